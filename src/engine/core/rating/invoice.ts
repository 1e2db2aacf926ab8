import { customerCurrency, plansPricedIn } from "../currencies.js";
import type { CompiledCustomer, CompiledPlan, CompiledPolicy, DecimalString, IsoDate } from "../model.js";
import { currencyDigits, type Decimal, dec, decStr, roundMoney, sum, ZERO } from "../money.js";
import { billingWindow, type Window, wholeDays } from "../periods.js";
import { applyCredits, type CreditBalance, type CreditUse } from "./credits.js";
import { feeLines, feeTimeline, type PlanChange, type Segment, segmentsIn } from "./timeline.js";
import { rateUsage, segmentNote } from "./usage-lines.js";
import { drawDownLines, purchaseLines, type WalletActivity } from "./wallet-lines.js";

export { accountFor, poolKey, poolMembers } from "./usage-lines.js";

/** The usage the rater needs: one meter, one account (and the members pooled into it), one window. */
export interface UsageWindow {
  account: string;
  members: string[];
  meter: string;
  start: number;
  end: number;
  /**
   * When set (percentage `free_events: N`), also sum the values of the
   * window's first N events, ordered by timestamp then id.
   */
  firstEvents?: number;
}

export interface UsageAmount {
  quantity: Decimal;
  /** Number of matching events (percentage fees per event). */
  events: number;
  /** Summed value of the first `firstEvents` events of the window (only when asked). */
  firstEventsQuantity?: Decimal;
  /** Quantity by value of the meter's cost dimension ("" = none). */
  byDim: Map<string, Decimal>;
}

export type UsageLookup = (w: UsageWindow) => UsageAmount;

export type LineKind =
  | "subscription"
  | "proration"
  | "usage"
  | "prepaid"
  | "minimum"
  | "discount"
  | "credit"
  | "purchase";

export interface InvoiceLine {
  kind: LineKind;
  description: string;
  entitlement: string | null;
  meter: string | null;
  quantity: DecimalString | null;
  unitPrice: DecimalString | null;
  /** Rounded to the currency's minor unit (R9). */
  amount: Decimal;
  /** Provider cost behind the line, rounded like amounts. */
  cost: Decimal;
  /** What the line is about, without its figures (usage lines): matches it with the same line of an earlier run. */
  group?: string;
}

export interface CustomerBillingInput {
  customer: string;
  contract: CompiledCustomer | null;
  /** Day-aligned plan history (see `dayAlignedChanges`). */
  changes: PlanChange[];
  /** Anniversary origin. */
  since: IsoDate | null;
  /** First day on each plan (trial start). */
  trialStart: Record<string, number>;
  credits: CreditBalance[];
  /** Top-ups and wallet debits of the period (R19); absent = none. */
  wallet?: WalletActivity;
  /** Currency recorded for the customer in the store (`customers set --currency`); a contract's wins. */
  currency?: string | null;
}

export interface Invoice {
  customer: string;
  plan: string | null;
  /** ISO 4217 code of every amount of the invoice (the customer's currency), and its minor-unit digits. */
  currency: string;
  currencyDigits: number;
  /** Add-on plans held with `plan` at the end of the period (SPEC §15), sorted; absent = none. */
  addOns?: readonly string[];
  lines: InvoiceLine[];
  subtotal: Decimal;
  discount: Decimal;
  creditsApplied: Decimal;
  total: Decimal;
  cost: Decimal;
  /**
   * (revenue - cost) / revenue, revenue = subtotal - discount; null when there
   * is no revenue, or when the invoice is in another currency than the
   * provider costs (the policy currency: there are no exchange rates).
   */
  marginPercent: Decimal | null;
  creditUses: CreditUse[];
}

/**
 * One policy's share of a customer's period (SPEC §15): the version that was
 * active over [start, end), with what that version says about the customer.
 */
export interface CustomerPricing {
  policy: CompiledPolicy;
  /** Exact instants: usage in [start, end) is rated under this policy. */
  start: number;
  end: number;
  lookup: UsageLookup;
  pools: ReadonlyMap<string, string[]>;
  /** The customer's day-aligned plan history under this policy. */
  changes: PlanChange[];
  contract: CompiledCustomer | null;
  /** Names the policy on usage lines and fee prorations when a period has several ("policy v2"). */
  label: string | null;
}

/**
 * Rate one customer's period. Pure: usage arrives through `lookup`, one
 * (account, meter, window) at a time.
 */
export function rateCustomer(
  policy: CompiledPolicy,
  period: Window,
  input: CustomerBillingInput,
  pools: ReadonlyMap<string, string[]>,
  lookup: UsageLookup,
): Invoice {
  const only: CustomerPricing = {
    policy,
    start: period.start,
    end: period.end,
    lookup,
    pools,
    changes: input.changes,
    contract: input.contract,
    label: null,
  };
  return rateCustomerAcross(period, input, [only]);
}

/**
 * Rate one customer's period priced by several policies in turn (the versions
 * active during it). Usage is rated under the policy active at its timestamp;
 * recurring fees and minimums switch at the start of the day a version became
 * active, like a plan change (R11); discounts, credits and wallets follow the
 * last policy. `pricings` are in time order and cover the period.
 */
export function rateCustomerAcross(
  period: Window,
  input: CustomerBillingInput,
  inCurrency: CustomerPricing[],
): Invoice {
  const last = inCurrency[inCurrency.length - 1];
  if (!last) throw new Error("rateCustomerAcross needs at least one pricing");
  const policy = last.policy;
  const currency = customerCurrency(policy, input.customer, input.currency);
  const digits = currencyDigits(currency);
  const zone = policy.timezone;
  const round = (d: Decimal) => roundMoney(d, digits);
  // Provider costs are in the policy currency, whatever the invoice's.
  const roundCost = (d: Decimal) => roundMoney(d, policy.currencyDigits);
  // Every amount in the customer's currency: the plans it is on, with that currency's price list laid over them.
  const pricings = inCurrency.map((p) =>
    currency === p.policy.currency
      ? p
      : {
          ...p,
          policy: {
            ...p.policy,
            plans: plansPricedIn(
              p.policy,
              new Set(segmentsIn(p.changes, period).flatMap((s) => [s.plan, ...s.addOns])),
              currency,
              input.customer,
            ),
          },
        },
  );
  const fees = feeTimeline(period, pricings, zone);
  const lines: InvoiceLine[] = [];

  for (const f of feeLines(fees.segments, fees.plans, period, {
    zone,
    since: input.since,
    trialStart: (plan) => input.trialStart[plan] ?? null,
  })) {
    lines.push({ ...blank(f.kind, f.description), amount: round(f.amount) });
  }

  let hiddenCost = ZERO;
  const usageSegments = pricings.map((p) => segmentsIn(p.changes, p));
  const segmentCount = usageSegments.reduce((n, s) => n + s.length, 0);
  for (const [i, pricing] of pricings.entries()) {
    for (const seg of usageSegments[i] ?? []) {
      const note = segmentCount > 1 ? ` [${segmentNote(pricing, seg, zone)}]` : "";
      hiddenCost = hiddenCost.plus(
        rateUsage(pricing, input.customer, seg, note, { round, roundCost }, lines),
      );
    }
  }
  if (input.wallet !== undefined)
    for (const w of drawDownLines(
      lines.filter((l) => l.kind === "usage"),
      input.wallet,
      round,
    ))
      lines.push({ ...blank(w.kind, w.description), entitlement: w.entitlement, amount: w.amount });
  const charges = sum(lines.map((l) => l.amount));
  // Add-ons carry no minimum (the validator refuses one): the base plan's alone.
  const minimum = minimumDue(
    fees.segments.filter((s) => !fees.plans[s.plan]?.addOn),
    fees.plans,
    input.since,
    zone,
  );
  if (minimum.gt(charges)) {
    lines.push({
      ...blank("minimum", `Minimum spend true-up to ${decStr(round(minimum))}`),
      amount: round(minimum.minus(charges)),
    });
  }
  const subtotal = sum(lines.map((l) => l.amount));

  let discounted = subtotal;
  for (const d of last.contract?.discounts ?? []) {
    if (d.entitlement === null) continue;
    const base = sum(
      lines
        .filter((l) => (l.kind === "usage" || l.kind === "prepaid") && l.entitlement === d.entitlement)
        .map((l) => l.amount),
    );
    const off = round(base.times(d.percent).div(100));
    if (off.isZero()) continue;
    lines.push({
      ...blank("discount", `${d.percent}% off ${d.entitlement}`),
      entitlement: d.entitlement,
      amount: off.negated(),
    });
    discounted = discounted.minus(off);
  }
  for (const d of last.contract?.discounts ?? []) {
    if (d.entitlement !== null) continue;
    const off = round(discounted.times(d.percent).div(100));
    if (off.isZero()) continue;
    lines.push({ ...blank("discount", `${d.percent}% off the invoice`), amount: off.negated() });
    discounted = discounted.minus(off);
  }

  const creditUses = applyCredits(discounted, input.credits, period, zone);
  for (const use of creditUses) {
    lines.push({ ...blank("credit", `Credit ${use.id}`), amount: use.amount.negated() });
  }
  const creditsApplied = sum(creditUses.map((u) => u.amount));
  // Purchases are neither discounted nor paid by credits: they buy the balance itself.
  const purchases = input.wallet === undefined ? [] : purchaseLines(input.wallet, round);
  for (const p of purchases) lines.push({ ...blank(p.kind, p.description), amount: p.amount });
  const purchased = sum(purchases.map((p) => p.amount));
  const cost = sum(lines.map((l) => l.cost)).plus(hiddenCost);
  const revenue = discounted;
  const comparable = currency === policy.currency;
  const final = segmentsIn(last.changes, period).at(-1);
  return {
    customer: input.customer,
    plan: final?.plan ?? null,
    ...(final?.addOns.length ? { addOns: final.addOns } : {}),
    currency,
    currencyDigits: digits,
    lines,
    subtotal: subtotal.plus(purchased),
    discount: subtotal.minus(discounted),
    creditsApplied,
    total: sum(lines.map((l) => l.amount)),
    cost,
    marginPercent:
      comparable && revenue.gt(0) ? revenue.minus(cost).div(revenue).times(100).toDecimalPlaces(2) : null,
    creditUses,
  };
}

function blank(kind: LineKind, description: string): InvoiceLine {
  return {
    kind,
    description,
    entitlement: null,
    meter: null,
    quantity: null,
    unitPrice: null,
    amount: ZERO,
    cost: ZERO,
  };
}

/** The committed minimum of each billing window, prorated by the whole days of it the plan was in force. */
function minimumDue(
  segments: Segment[],
  plans: Record<string, CompiledPlan>,
  since: IsoDate | null,
  zone: string,
): Decimal {
  let due = ZERO;
  for (const seg of segments) {
    const plan = plans[seg.plan];
    if (!plan || seg.implicit || dec(plan.minimum).isZero()) continue;
    for (let t = seg.start; t < seg.end; ) {
      const w = billingWindow(plan.interval, plan.anchor, since, t, zone);
      const days = wholeDays(Math.max(w.start, seg.start), Math.min(w.end, seg.end), zone);
      due = due.plus(
        dec(plan.minimum)
          .times(days)
          .div(wholeDays(w.start, w.end, zone)),
      );
      t = w.end;
    }
  }
  return due;
}
