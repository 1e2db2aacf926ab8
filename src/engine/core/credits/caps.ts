import type { CompiledCustomer, CompiledPlan } from "../model.js";
import { Decimal, dec, decConst } from "../money.js";
import type { CompiledCap } from "./types.js";

const NONE: readonly CompiledCap[] = Object.freeze([]);

/** The caps in force for a customer on a plan: the plan's, with the contract's replacing same-named ones and adding others. */
export function capsOf(
  plan: CompiledPlan,
  contract: CompiledCustomer | undefined,
): Record<string, CompiledCap> {
  return { ...(plan.caps ?? {}), ...(contract?.caps ?? {}) };
}

/** The caps that count spend of `entitlement` (sorted by id, so every decision checks them in one order). */
export function capsFor(
  plan: CompiledPlan,
  contract: CompiledCustomer | undefined,
  entitlement: string,
): readonly CompiledCap[] {
  if (plan.caps === undefined && contract?.caps === undefined) return NONE;
  const out = Object.values(capsOf(plan, contract))
    .filter((c) => c.entitlements.includes(entitlement))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out.length === 0 ? NONE : out;
}

/**
 * Cap spend is counted in billionths of the currency (nanos): whole numbers,
 * so sums of prices are exact in a counter's double up to 9e6 currency units
 * per period, and they persist like any counter. A price finer than a nano
 * (a fraction of a billionth) is rounded up: a cap never lets through more
 * than its amount (refunds round toward zero).
 */
export const NANOS = 1_000_000_000;

export function toNanos(price: Decimal | string): number {
  if (typeof price === "string") {
    // Plain decimal text (what a decision's price is): exact integer arithmetic, no Decimal on the hot path.
    const m = /^(-?)(\d{1,6})(?:\.(\d{1,9}))?$/.exec(price);
    if (m !== null) {
      const n = Number(m[2]) * NANOS + Number((m[3] ?? "").padEnd(9, "0"));
      return m[1] === "-" ? -n : n;
    }
  }
  return dec(price).times(NANOS).toDecimalPlaces(0, Decimal.ROUND_CEIL).toNumber();
}

export function fromNanos(nanos: number): Decimal {
  return dec(nanos).div(NANOS);
}

const amounts = new WeakMap<CompiledCap, number>();

/** A cap's amount in nanos (worked out once per compiled cap). */
export function capNanos(cap: CompiledCap): number {
  let n = amounts.get(cap);
  if (n === undefined) {
    n = decConst(cap.amount).times(NANOS).toDecimalPlaces(0, Decimal.ROUND_FLOOR).toNumber();
    amounts.set(cap, n);
  }
  return n;
}

/** Key of a cap's counter: one per customer and cap (never an entitlement id: ids cannot hold ":"). */
export function capKey(cap: string, customer: string): string {
  return `cap:${cap}|${customer}`;
}

const unitPrices = new Map<string, number>();

/** A unit price in nanos (memoized: a policy has few prices); NaN when it is finer than a nano. */
export function unitNanos(price: string): number {
  let n = unitPrices.get(price);
  if (n === undefined) {
    const d = dec(price).times(NANOS);
    n = d.isInteger() ? d.toNumber() : Number.NaN;
    if (unitPrices.size < 10_000) unitPrices.set(price, n);
  }
  return n;
}
