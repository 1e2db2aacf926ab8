import { scopeOwner } from "../accounts.js";
import { stackedPlan } from "../add-ons.js";
import { creditUsage, unitMeter } from "../credits/rating.js";
import type {
  ChargeModel,
  CompiledCustomer,
  CompiledPlan,
  CompiledPolicy,
  DecimalString,
  IsoDate,
  MeteredEntitlement,
} from "../model.js";
import { type Decimal, dec, decStr, roundMoney, sum, ZERO } from "../money.js";
import { billingWindow, calendarWindow, endOfDate, isoDate, type Window, wholeDays } from "../periods.js";
import { meterCost } from "../usage/meters.js";
import { rateCharge } from "./charge-models.js";
import { applyCredits, type CreditBalance, type CreditUse } from "./credits.js";
import { feeLines, feeSegments, type PlanChange, type Segment, segmentsIn } from "./timeline.js";
import { drawDownLines, purchaseLines, type WalletActivity } from "./wallet-lines.js";

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
}

export interface Invoice {
  customer: string;
  plan: string | null;
  /** Add-on plans held with `plan` at the end of the period (SPEC §15), sorted; absent = none. */
  addOns?: readonly string[];
  lines: InvoiceLine[];
  subtotal: Decimal;
  discount: Decimal;
  creditsApplied: Decimal;
  total: Decimal;
  cost: Decimal;
  /** (revenue - cost) / revenue, revenue = subtotal - discount; null when there is no revenue. */
  marginPercent: Decimal | null;
  creditUses: CreditUse[];
}

/** Where an entitlement's usage is billed (R7 scopes): the counter's owner. */
export function accountFor(policy: CompiledPolicy, customer: string, ent: MeteredEntitlement): string {
  return scopeOwner(policy.customers, customer, ent.scope);
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
  const digits = policy.currencyDigits;
  const zone = policy.timezone;
  const round = (d: Decimal) => roundMoney(d, digits);
  const segments = segmentsIn(input.changes, period);
  const lines: InvoiceLine[] = [];

  // Base plan and add-on fees, each prorated on its own changes (R11).
  const paid = feeSegments(input.changes, period);
  const fees = feeLines(paid, policy.plans, period, {
    zone,
    since: input.since,
    trialStart: (plan) => input.trialStart[plan] ?? null,
  });
  for (const f of fees) {
    lines.push({ ...blank(f.kind, f.description), amount: round(f.amount) });
  }

  let hiddenCost = ZERO;
  for (const seg of segments) {
    // Usage is rated under the stack in force: the base plan with its add-ons' entitlements stacked on it.
    const plan = stackedPlan(policy.plans, seg.plan, seg.addOns);
    if (!plan) continue;
    const costed = new Set<string>();
    for (const ent of Object.values(plan.entitlements)) {
      if (ent.kind !== "metered") continue;
      if (accountFor(policy, input.customer, ent) !== input.customer) continue;
      const unit = policy.creditUnits?.[ent.meter];
      const meter = policy.meters[ent.meter] ?? (unit ? unitMeter(unit) : undefined);
      if (!meter) continue;
      const members = pools.get(poolKey(input.customer, ent.id)) ?? [input.customer];
      const price = priceFor(ent, input.contract, seg, zone);
      let quantity = ZERO;
      let amount = ZERO;
      const byDim = new Map<string, Decimal>();
      let unitPrice: DecimalString | null = null;
      const details: string[] = [];
      for (const w of ratingWindows(ent, seg, zone)) {
        const firstEvents =
          price?.model === "percentage" && price.freeEvents > 0 ? price.freeEvents : undefined;
        const window = {
          account: input.customer,
          members,
          meter: meter.id,
          start: w.start,
          end: w.end,
          ...(firstEvents ? { firstEvents } : {}),
        };
        const u = unit ? creditUsage(policy, unit, window, lookup) : lookup(window);
        quantity = quantity.plus(u.quantity);
        for (const [k, v] of u.byDim) byDim.set(k, (byDim.get(k) ?? ZERO).plus(v));
        if (!price) continue;
        const c = rateCharge(price, {
          quantity: u.quantity,
          events: u.events,
          freeEventsQuantity: u.firstEventsQuantity,
        });
        amount = amount.plus(c.amount);
        unitPrice = c.unitPrice;
        details.push(c.detail);
      }
      const cost = costed.has(meter.id) ? ZERO : round(meterCost(meter, byDim));
      costed.add(meter.id);
      if (!price || (quantity.isZero() && amount.isZero())) {
        hiddenCost = hiddenCost.plus(cost);
        continue;
      }
      const label = meter.description ?? meter.id;
      const planNote =
        segments.length > 1
          ? ` [${stackName(policy, seg)} ${isoDate(seg.start, zone)} to ${isoDate(seg.end - 1, zone)}]`
          : "";
      const detail = details.length === 1 ? details[0] : `${details.length} ${ent.period} windows`;
      lines.push({
        kind: "usage",
        description: `${label}${planNote}: ${detail}`,
        entitlement: ent.id,
        meter: meter.id,
        quantity: decStr(quantity),
        unitPrice,
        amount: round(amount),
        cost,
      });
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
  const minimum = minimumDue(
    paid.filter((s) => !policy.plans[s.plan]?.addOn),
    policy.plans,
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
  for (const d of input.contract?.discounts ?? []) {
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
  for (const d of input.contract?.discounts ?? []) {
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
  return {
    customer: input.customer,
    plan: segments[segments.length - 1]?.plan ?? null,
    ...(segments[segments.length - 1]?.addOns.length
      ? { addOns: segments[segments.length - 1]?.addOns }
      : {}),
    lines,
    subtotal: subtotal.plus(purchased),
    discount: subtotal.minus(discounted),
    creditsApplied,
    total: sum(lines.map((l) => l.amount)),
    cost,
    marginPercent: revenue.gt(0) ? revenue.minus(cost).div(revenue).times(100).toDecimalPlaces(2) : null,
    creditUses,
  };
}

/** "Pro" or "Pro + Extra tokens + GPU pack": what a usage line was rated under. */
function stackName(policy: CompiledPolicy, seg: Segment): string {
  const name = (id: string) => policy.plans[id]?.name ?? id;
  return [seg.plan, ...seg.addOns].map(name).join(" + ");
}

export function poolKey(owner: string, entitlement: string): string {
  return `${owner}\u0000${entitlement}`;
}

/**
 * Contract customers whose entitlement counts against an ancestor (scope
 * parent/root) are pooled into the owner's line of the same entitlement.
 */
export function poolMembers(policy: CompiledPolicy): Map<string, string[]> {
  const pools = new Map<string, string[]>();
  for (const c of Object.values(policy.customers).sort((a, b) => a.id.localeCompare(b.id))) {
    const plan = c.plan ? stackedPlan(policy.plans, c.plan, c.addOns) : undefined;
    for (const ent of Object.values(plan?.entitlements ?? {})) {
      if (ent.kind !== "metered" || ent.scope === "customer") continue;
      const owner = accountFor(policy, c.id, ent);
      const key = poolKey(owner, ent.id);
      const list = pools.get(key) ?? [owner];
      if (!list.includes(c.id)) list.push(c.id);
      pools.set(key, list);
    }
  }
  return pools;
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

/** A contract override's price applies while it has not expired (expiry day inclusive). */
function priceFor(
  ent: MeteredEntitlement,
  contract: CompiledCustomer | null,
  seg: Segment,
  zone: string,
): ChargeModel | null {
  const o = contract?.overrides[ent.id];
  if (o && o.price !== undefined && (o.expires === null || seg.start < endOfDate(o.expires, zone)))
    return o.price;
  return ent.price;
}

/**
 * Windows whose usage is rated separately: an entitlement with a daily or
 * weekly (or hourly, rated per day) period restarts its tiers each window;
 * longer periods are rated over the segment (their part of the billed period).
 */
function ratingWindows(ent: MeteredEntitlement, seg: Segment, zone: string): Window[] {
  if (ent.period !== "hour" && ent.period !== "day" && ent.period !== "week") return [seg];
  const unit = ent.period === "week" ? "week" : "day";
  const out: Window[] = [];
  for (let t = seg.start; t < seg.end; ) {
    const w = calendarWindow(unit, t, zone);
    out.push({ start: Math.max(w.start, seg.start), end: Math.min(w.end, seg.end) });
    t = w.end;
  }
  return out;
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
