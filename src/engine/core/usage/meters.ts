import type { CompiledMeter, PropertyValue } from "../model.js";
import { type Decimal, ZERO } from "../money.js";

/**
 * Meter semantics shared by the store's SQL aggregation and the in-memory
 * reference used by tests: which events a meter counts and what they cost.
 */

/** Does an event (type + parsed properties) pass the meter's type and `where` filter? */
export function meterMatches(
  meter: CompiledMeter,
  type: string,
  properties: Record<string, unknown> | null,
): boolean {
  if (!meter.events.includes(type)) return false;
  for (const [key, accepted] of Object.entries(meter.where)) {
    const v = properties?.[key];
    if (!accepted.some((a) => a === v)) return false;
  }
  return true;
}

/**
 * Units one event adds to a `count` meter: its `value` when it has one (the
 * engine stores `allow(c, e, n)` as one event of value n), else 1.
 */
export function countWeight(value: number | null | undefined): number {
  return value === null || value === undefined || !Number.isFinite(value) ? 1 : value;
}

/** SQL form of `countWeight` over the events table. */
export const COUNT_WEIGHT_SQL = "COALESCE(value, 1)";

/**
 * Properties an event needs so that the meter's own `where` filter keeps it:
 * the first accepted value of each filtered property. A direct call on an
 * entitlement (`allow(c, "search")`) records its event with these, so the
 * bill counts what the engine counted.
 */
export function filterDefaults(meter: CompiledMeter): Record<string, PropertyValue> | null {
  const keys = Object.keys(meter.where);
  if (keys.length === 0) return null;
  const out: Record<string, PropertyValue> = {};
  for (const k of keys) {
    const first = meter.where[k]?.[0];
    if (first !== undefined) out[k] = first;
  }
  return out;
}

/** The dimension a meter's cost varies by, if any (`cost: { by: model }`). */
export function costDimension(meter: CompiledMeter): string | null {
  return meter.cost?.by ?? null;
}

/**
 * Provider cost of a quantity broken down by the cost dimension's value
 * (key "" when the meter has a flat rate or the event lacks the dimension).
 */
export function meterCost(meter: CompiledMeter, byDim: ReadonlyMap<string, Decimal>): Decimal {
  const cost = meter.cost;
  if (!cost) return ZERO;
  let total = ZERO;
  for (const [dim, qty] of byDim) {
    const rate = cost.rates[dim] ?? cost.default;
    if (rate !== null) total = total.plus(qty.times(rate));
  }
  return total;
}

/** SQL literal form of a `where` value: JSON booleans come out of json_extract as 1/0. */
export function sqlValue(v: PropertyValue): string | number {
  if (typeof v === "boolean") return v ? 1 : 0;
  return v;
}
