import type { CompiledMeter, PropertyValue } from "../model.js";
import { type Decimal, dec, decConst, ZERO } from "../money.js";
import { countWeight, filterDefaults, meterMatches } from "../usage/meters.js";
import type { CompiledCreditUnit, CreditRate } from "./types.js";

/** A quantity of some meter (or credit unit) could not be priced: its `by` value has no rate and there is no default. */
export class UnratedQuantityError extends Error {
  constructor(
    readonly unit: string,
    readonly meter: string,
    readonly value: string | null,
  ) {
    super(
      value === null
        ? `credit unit "${unit}": ${meter} has no rate for a call without its dimension and no default`
        : `credit unit "${unit}": ${meter} has no rate for "${value}" and no default`,
    );
    this.name = "UnratedQuantityError";
  }
}

/** The rate that applies to a value of the rate's `by` property (null: none, not even a default). */
export function rateOf(rate: CreditRate, dimension: PropertyValue | null | undefined): Decimal | null {
  if (rate.by !== null && dimension !== null && dimension !== undefined) {
    const r = rate.rates[String(dimension)];
    if (r !== undefined) return decConst(r);
  }
  return rate.default === null ? null : decConst(rate.default);
}

/**
 * Credits of quantities in a credit unit: the sum over the unit's rates of
 * each quantity times its rate (picked by the rate's `by` property), divided
 * by its `per`. Exact (R9). Meters the unit does not rate are ignored; a
 * rated credit unit missing from `quantities` is converted from the same
 * quantities through `units` (validation rules out cycles). The one
 * conversion every caller shares: the engine's decisions, `record`, `bill`,
 * and a wallet holding credits.
 *
 * @example
 * creditsFor(credits, { input_tokens: 1200, output_tokens: 300 }, { model: "gpt-4o" }).toFixed() // "0.6"
 */
export function creditsFor(
  unit: CompiledCreditUnit,
  quantities: Readonly<Record<string, Decimal | number | string>>,
  properties?: Readonly<Record<string, PropertyValue>> | null,
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): Decimal {
  let total = ZERO;
  for (const key in unit.rates) {
    const rate = unit.rates[key] as CreditRate;
    let q: Decimal | null = null;
    const given = Object.hasOwn(quantities, key) ? quantities[key] : undefined;
    if (given !== undefined) q = dec(given);
    else if (units !== undefined && Object.hasOwn(units, key))
      q = creditsFor(units[key] as CompiledCreditUnit, quantities, properties, units);
    if (q === null || q.isZero()) continue;
    const dimension = rate.by === null ? null : properties?.[rate.by];
    const r = rateOf(rate, dimension);
    if (r === null)
      throw new UnratedQuantityError(unit.id, key, dimension == null ? null : String(dimension));
    total = total.plus(q.times(r).div(decConst(rate.per)));
  }
  return total;
}

/**
 * Where a call's quantity of a rated meter is read from its properties: the
 * meter's value property (`input_tokens`), or the meter's id for meters that
 * count events or take the event's value (`images: 2`).
 */
export function quantityKey(meter: CompiledMeter): string {
  return readsValue(meter) ? meter.id : (meter.property as string);
}

/** The meter takes an event's `value` (count meters, sums without a property). */
function readsValue(meter: CompiledMeter): boolean {
  return meter.aggregation === "count" || meter.property === null;
}

/** How a decided call on a credit-unit entitlement is stored so that `bill` converts it as the engine did. */
export interface CallEvent {
  /** The call's quantity in credits. */
  credits: Decimal;
  /** Event type shared by every rated meter the call has a quantity of. */
  type: string;
  /** The event's value: the quantity of the meter that reads it (count meters, or sum without a property); null when none. */
  value: number | null;
  /** Properties the meters' `where` filters need, filled in when the call left them out. */
  filterProps: Record<string, PropertyValue> | null;
}

/**
 * The quantities a call carries in its properties (see `quantityKey`),
 * converted to credits, and the one event that records them. A call's
 * quantities must belong to meters that share an event type (one call is one
 * event); a string is returned that says why otherwise. Null when the call
 * carries no quantity of any rated meter.
 */
export function callEvent(
  unit: CompiledCreditUnit,
  meters: Readonly<Record<string, CompiledMeter>>,
  properties: Readonly<Record<string, PropertyValue>> | undefined,
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): CallEvent | string | null {
  if (properties === undefined) return null;
  const quantities: Record<string, number> = {};
  let types: string[] | null = null;
  let value: number | null = null;
  let filterProps: Record<string, PropertyValue> | null = null;
  for (const key of ratedMeters(unit, units)) {
    const meter = Object.hasOwn(meters, key) ? meters[key] : undefined;
    if (meter === undefined) continue;
    const raw = properties[quantityKey(meter)];
    if (raw === undefined) continue;
    const q =
      typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (!Number.isFinite(q)) return `${quantityKey(meter)} must be a finite number`;
    const defaults = filterDefaults(meter);
    for (const [k, accepted] of Object.entries(meter.where)) {
      const v = Object.hasOwn(properties, k) ? properties[k] : defaults?.[k];
      if (!accepted.some((a) => a === v || String(a) === String(v)))
        return `${k}=${String(v)} is not counted by meter ${key} (where filter)`;
    }
    types = types === null ? [...meter.events] : types.filter((t) => meter.events.includes(t));
    if (types.length === 0) return "the call's quantities belong to meters of different event types";
    if (readsValue(meter)) {
      if (value !== null && value !== q)
        return "two rated meters read the event value with different quantities";
      value = q;
    }
    if (defaults !== null) filterProps = Object.assign(filterProps ?? {}, defaults);
    quantities[key] = q;
  }
  if (types === null) return null;
  try {
    return {
      credits: creditsFor(unit, quantities, properties, units),
      type: types[0] as string,
      value,
      filterProps,
    };
  } catch (err) {
    if (err instanceof UnratedQuantityError) return err.message;
    throw err;
  }
}

/** Meter ids a credit unit rates, directly or through the credit units it rates. */
export function ratedMeters(
  unit: CompiledCreditUnit,
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): string[] {
  const out = new Set<string>();
  const walk = (u: CompiledCreditUnit, depth: number): void => {
    for (const key in u.rates) {
      const inner = units !== undefined && Object.hasOwn(units, key) ? units[key] : undefined;
      if (inner === undefined) out.add(key);
      else if (depth < 32) walk(inner, depth + 1);
    }
  };
  walk(unit, 0);
  return [...out];
}

/**
 * Credits one stored or recorded event adds to a credit unit: each rated
 * meter's share of the event (as that meter aggregates it: count or sum),
 * converted; an event of the unit's own type carries credits in its value.
 * Unrated quantities add nothing (the engine refuses such calls; a recorded
 * one is kept as usage of its meters only).
 */
export function eventCredits(
  unit: CompiledCreditUnit,
  meters: Readonly<Record<string, CompiledMeter>>,
  event: { type: string; value?: number | null; properties?: Readonly<Record<string, PropertyValue>> | null },
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): Decimal {
  if (event.type === unit.id) {
    const v = event.value;
    return v === null || v === undefined || !Number.isFinite(v) ? ZERO : dec(v);
  }
  const props = event.properties ?? null;
  let total = ZERO;
  for (const key in unit.rates) {
    const rate = unit.rates[key] as CreditRate;
    const inner = units !== undefined && Object.hasOwn(units, key) ? units[key] : undefined;
    let q: Decimal;
    if (inner !== undefined) q = eventCredits(inner, meters, event, units);
    else {
      const meter = Object.hasOwn(meters, key) ? meters[key] : undefined;
      if (meter === undefined || !meterMatches(meter, event.type, props)) continue;
      q = dec(meterShare(meter, event.value, props));
    }
    if (q.isZero()) continue;
    const r = rateOf(rate, rate.by === null ? null : props?.[rate.by]);
    if (r !== null) total = total.plus(q.times(r).div(decConst(rate.per)));
  }
  return total;
}

/** What one event adds to a sum or count meter (the only aggregations a credit unit rates). */
function meterShare(
  meter: CompiledMeter,
  value: number | null | undefined,
  props: Readonly<Record<string, PropertyValue>> | null,
): number {
  if (meter.aggregation === "count") return countWeight(value);
  const raw = meter.property === null ? value : props?.[meter.property];
  const v = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  return Number.isFinite(v) ? v : 0;
}

/** Event types that feed a credit unit: its own, and those of every meter it rates. */
export function creditEventTypes(
  unit: CompiledCreditUnit,
  meters: Readonly<Record<string, CompiledMeter>>,
  units?: Readonly<Record<string, CompiledCreditUnit>>,
): string[] {
  const out = new Set<string>([unit.id]);
  for (const key of ratedMeters(unit, units)) for (const t of meters[key]?.events ?? []) out.add(t);
  return [...out];
}
