import type { Credit } from "../model.js";
import { type Decimal, dec, ZERO } from "../money.js";
import { endOfDate, startOfDate, type Window } from "../periods.js";

/** A grant and what is left of it before the invoice being computed. */
export interface CreditBalance {
  credit: Credit;
  remaining: Decimal;
}

export interface CreditUse {
  id: string;
  amount: Decimal;
}

/** A credit can pay an invoice whose period overlaps its validity (starts..expires, whole days inclusive). */
export function creditUsable(credit: Credit, period: Window, zone: string): boolean {
  if (credit.starts !== null && startOfDate(credit.starts, zone) >= period.end) return false;
  if (credit.expires !== null && endOfDate(credit.expires, zone) <= period.start) return false;
  return true;
}

/**
 * R12: apply credits to the amount due (after discounts): lowest priority
 * number first, then earliest expiry (never-expiring last), then oldest
 * (earliest start, then declaration order). Never below zero.
 */
export function applyCredits(
  due: Decimal,
  balances: CreditBalance[],
  period: Window,
  zone: string,
): CreditUse[] {
  const usable = balances
    .map((b, order) => ({ ...b, order }))
    .filter((b) => b.remaining.gt(0) && creditUsable(b.credit, period, zone))
    .sort(
      (a, b) =>
        a.credit.priority - b.credit.priority ||
        dayKey(a.credit.expires, "9999-12-31").localeCompare(dayKey(b.credit.expires, "9999-12-31")) ||
        dayKey(a.credit.starts, "0000-01-01").localeCompare(dayKey(b.credit.starts, "0000-01-01")) ||
        a.order - b.order,
    );
  const uses: CreditUse[] = [];
  let left = due.gt(0) ? due : ZERO;
  for (const b of usable) {
    if (left.isZero()) break;
    const take = b.remaining.lt(left) ? b.remaining : left;
    uses.push({ id: b.credit.id, amount: take });
    left = left.minus(take);
  }
  return uses;
}

function dayKey(date: string | null, missing: string): string {
  return date ?? missing;
}

/** Remaining balance: the grant less what earlier invoices consumed. */
export function remainingOf(credit: Credit, consumedBefore: Decimal): Decimal {
  const r = dec(credit.amount).minus(consumedBefore);
  return r.gt(0) ? r : ZERO;
}
