import type { ChargeModel, DecimalString, Tier } from "../model.js";
import { type Decimal, dec, decConst, decStr } from "../money.js";
import { rateCharge } from "../rating/charge-models.js";

const NO_DETAIL = { detail: false };

/**
 * The charge of a period's usage under a charge model: the rater's own
 * function (SPEC §2.3, R10), so a decision's price and the invoice agree by
 * construction. Exact and unrounded.
 *
 * @example
 * periodCharge({ model: "per_unit", unitPrice: "0.5", freeUnits: 10 }, 12, 1).toFixed() // "1"
 */
export function periodCharge(
  model: ChargeModel,
  quantity: number,
  events: number,
  freeEventsQuantity = 0,
): Decimal {
  return rateCharge(
    model,
    { quantity: dec(Math.max(quantity, 0)), events, freeEventsQuantity: dec(freeEventsQuantity) },
    NO_DETAIL,
  ).amount;
}

/**
 * What one call of `amount` units adds to the period's charge when `used`
 * units (and `events` events) are already counted: charge(after) - charge(before).
 * Negative for refunds. Computed by decide()/check() only, never on the allow() path.
 *
 * @example
 * marginalPrice({ model: "per_unit", unitPrice: "0.5", freeUnits: 10 }, 9, 3, 1) // "1"
 */
export function marginalPrice(
  model: ChargeModel | null,
  used: number,
  amount: number,
  events: number,
): DecimalString {
  if (model === null || amount === 0) return "0";
  const after = Math.max(0, used + amount);
  if (model.model === "percentage") {
    // SPEC §15: the period's first `free_events` calls are free entirely, so are refunds of their units.
    if (events < model.freeEvents) return "0";
    const pct = dec(after).minus(dec(used)).times(decConst(model.rate)).div(100);
    return decStr(amount > 0 ? pct.plus(decConst(model.fixedFee)) : pct);
  }
  if (model.model === "graduated") {
    // Both quantities inside one tier (the usual case, `overage` included): the units between them at its price.
    const tier = sharedTier(model.tiers, Math.min(used, after), Math.max(used, after));
    if (tier !== null) return decStr(dec(after).minus(dec(used)).times(decConst(tier.unitPrice)));
  }
  const eventsAfter = amount > 0 ? events + 1 : events;
  return decStr(periodCharge(model, after, eventsAfter).minus(periodCharge(model, used, events)));
}

/**
 * The graduated tier holding every quantity in [lo, hi], with the same tiers
 * reached (R10: a tier's flat fee counts once the quantity passes its lower
 * bound; tier 1 always): the charges at lo and hi then differ only by that
 * tier's units. Null when the range spans a boundary.
 */
function sharedTier(tiers: Tier[], lo: number, hi: number): Tier | null {
  let lower = 0;
  for (let i = 0; i < tiers.length; i++) {
    const tier = tiers[i] as Tier;
    if (tier.upTo === null || hi <= tier.upTo) return i === 0 || lo > lower ? tier : null;
    lower = tier.upTo;
  }
  return null;
}
