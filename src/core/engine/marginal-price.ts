import type { ChargeModel, DecimalString } from "../model.js";
import { type Decimal, dec, decStr } from "../money.js";
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
export function periodCharge(model: ChargeModel, quantity: number, events: number): Decimal {
  return rateCharge(model, { quantity: dec(Math.max(quantity, 0)), events }, NO_DETAIL).amount;
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
  const eventsAfter = amount > 0 ? events + 1 : events;
  return decStr(periodCharge(model, after, eventsAfter).minus(periodCharge(model, used, events)));
}
