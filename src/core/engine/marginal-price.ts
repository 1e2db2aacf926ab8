import type { ChargeModel, DecimalString, Tier } from "../model.js";
import { type Decimal, dec, decStr, ZERO } from "../money.js";

/**
 * The charge of a period's usage under a charge model (SPEC §2.3, R10), exact.
 * `events` is the number of events in the period (percentage `free_events`).
 * Not rounded: the marginal price of one call is usually a fraction of a
 * minor unit; invoices round per line.
 *
 * @example
 * periodCharge({ model: "per_unit", unitPrice: "0.5", freeUnits: 10 }, 12, 1).toFixed() // "1"
 */
export function periodCharge(model: ChargeModel, quantity: number, events: number): Decimal {
  const q = dec(Math.max(quantity, 0));
  switch (model.model) {
    case "per_unit": {
      const billable = q.minus(model.freeUnits);
      return billable.isPositive() ? billable.times(model.unitPrice) : ZERO;
    }
    case "graduated":
      return graduated(model.tiers, q);
    case "volume":
      return volume(model.tiers, q);
    case "package": {
      const billable = q.minus(model.freeUnits);
      if (!billable.isPositive()) return ZERO;
      const packs = billable.div(model.packageSize);
      const whole = model.rounding === "up" ? packs.ceil() : packs.floor();
      return whole.times(model.packagePrice);
    }
    case "percentage": {
      const fees = Math.max(0, events - model.freeEvents);
      return q.times(model.rate).div(100).plus(dec(model.fixedFee).times(fees));
    }
  }
}

/** Each tier charges its own units, plus its flat fee once reached (tier 1's even at zero usage). */
function graduated(tiers: Tier[], q: Decimal): Decimal {
  let total = ZERO;
  let lower = ZERO;
  for (let i = 0; i < tiers.length; i++) {
    const tier = tiers[i] as Tier;
    if (i > 0 && !q.greaterThan(lower)) break;
    const upper = tier.upTo === null ? q : minDec(q, dec(tier.upTo));
    const units = upper.minus(lower);
    if (units.isPositive()) total = total.plus(units.times(tier.unitPrice));
    total = total.plus(tier.flatFee);
    if (tier.upTo === null) break;
    lower = dec(tier.upTo);
  }
  return total;
}

/** Every unit at the rate of the tier the total falls in, plus that tier's flat fee. */
function volume(tiers: Tier[], q: Decimal): Decimal {
  for (const tier of tiers) {
    if (tier.upTo === null || q.lessThanOrEqualTo(tier.upTo))
      return q.times(tier.unitPrice).plus(tier.flatFee);
  }
  return ZERO;
}

function minDec(a: Decimal, b: Decimal): Decimal {
  return a.lessThan(b) ? a : b;
}

/**
 * What one call of `amount` units adds to the period's charge when `used`
 * units (and `events` events) are already counted: charge(after) - charge(before).
 * Negative for refunds.
 */
export function marginalPrice(
  model: ChargeModel | null,
  used: number,
  amount: number,
  events: number,
): DecimalString {
  if (model === null || amount === 0) return "0";
  const after = Math.max(0, used + amount);
  const eventsAfter = amount > 0 ? events + 1 : events;
  return decStr(periodCharge(model, after, eventsAfter).minus(periodCharge(model, used, events)));
}
