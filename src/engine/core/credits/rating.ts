import type { CompiledMeter, CompiledPolicy } from "../model.js";
import { type Decimal, decConst, ZERO } from "../money.js";
import type { UsageAmount, UsageLookup, UsageWindow } from "../rating/invoice.js";
import { rateOf } from "./convert.js";
import type { CompiledCreditUnit, CreditRate } from "./types.js";

/**
 * How `bill` rates an entitlement metered in a credit unit: the usage of
 * every meter the unit rates, grouped by the rate's `by` property, times the
 * rate (credits are linear in quantities, so converting the period's sums
 * equals converting each event: the engine's conversion, R9). The usage
 * source reads these through derived meters, named `<unit>/<meter>` (ids
 * cannot hold "/", so they never collide), plus `<unit>` itself for events
 * that carry credits in their value (`allow(c, e, credits)`).
 */

/** Id of the derived meter reading `meter` for credit unit `unit`. */
export function derivedMeterId(unit: string, meter: string): string {
  return `${unit}/${meter}`;
}

/** The policy's meters plus the derived meters its credit units need (what a usage scan reads). */
export function ratingMeters(policy: CompiledPolicy): CompiledMeter[] {
  const out = Object.values(policy.meters);
  for (const unit of Object.values(policy.creditUnits ?? {})) {
    out.push(unitMeter(unit));
    for (const [key, rate] of Object.entries(unit.rates)) {
      const meter = policy.meters[key];
      if (meter === undefined) continue;
      out.push({
        ...meter,
        id: derivedMeterId(unit.id, key),
        // The usage source groups quantities by the meter's cost dimension: here, the rate's.
        cost: rate.by === null ? null : { by: rate.by, rates: {}, default: null },
      });
    }
  }
  return out;
}

/** The meter of a credit unit itself: events of the unit's type, their value in credits. */
export function unitMeter(unit: CompiledCreditUnit): CompiledMeter {
  return {
    id: unit.id,
    description: unit.description,
    unit: unit.id,
    events: [unit.id],
    aggregation: "sum",
    property: null,
    where: {},
    groupBy: [],
    cost: null,
  };
}

/** A meter id of the rating: a policy meter or a derived one (see `ratingMeters`). */
export function ratingMeter(policy: CompiledPolicy, id: string): CompiledMeter | undefined {
  if (Object.hasOwn(policy.meters, id)) return policy.meters[id];
  return ratingMeters(policy).find((m) => m.id === id);
}

/** A window's usage of a credit unit, in credits (nested credit units at their flat rate). */
export function creditUsage(
  policy: CompiledPolicy,
  unit: CompiledCreditUnit,
  w: UsageWindow,
  lookup: UsageLookup,
  depth = 0,
): UsageAmount {
  const own = lookup({ ...w, meter: unit.id, firstEvents: undefined });
  let credits: Decimal = own.quantity;
  let events = own.events;
  const units = policy.creditUnits ?? {};
  for (const [key, rate] of Object.entries(unit.rates)) {
    let byDim: ReadonlyMap<string, Decimal>;
    if (Object.hasOwn(units, key) && depth < 32) {
      const inner = creditUsage(policy, units[key] as CompiledCreditUnit, w, lookup, depth + 1);
      byDim = new Map([["", inner.quantity]]);
      events += inner.events;
    } else if (Object.hasOwn(policy.meters, key)) {
      const u = lookup({ ...w, meter: derivedMeterId(unit.id, key), firstEvents: undefined });
      byDim = u.byDim;
      events += u.events;
    } else continue;
    credits = credits.plus(converted(rate, byDim));
  }
  return { quantity: credits, events, byDim: new Map([["", credits]]) };
}

function converted(rate: CreditRate, byDim: ReadonlyMap<string, Decimal>): Decimal {
  let total = ZERO;
  for (const [dim, qty] of byDim) {
    const r = rateOf(rate, dim === "" ? null : dim);
    if (r !== null) total = total.plus(qty.times(r));
  }
  return total.div(decConst(rate.per));
}
