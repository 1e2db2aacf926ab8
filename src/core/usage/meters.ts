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
