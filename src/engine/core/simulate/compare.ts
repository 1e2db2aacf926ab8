import { stackedPlan } from "../add-ons.js";
import type { CompiledPolicy } from "../model.js";
import { type Decimal, ZERO } from "../money.js";
import type { Bill, BilledInvoice } from "../rating/bill.js";
import type {
  CustomerReplay,
  CustomerRow,
  Figures,
  PlanRow,
  ReplayOutcome,
  SideInfo,
  SimulationReport,
  SimulationTotals,
} from "./types.js";

/** One policy's view of the period: its bill and its replay. */
export interface SimulationSide {
  info: SideInfo;
  policy: CompiledPolicy;
  bill: Bill;
  replay: ReplayOutcome;
}

export const TOP_MOVERS = 10;
/** Plan key of customers no plan applies to (events from unknown customers with no default plan). */
export const NO_PLAN = "(no plan)";

const EMPTY_REPLAY: CustomerReplay = { denied: 0, deniedBy: {}, ranDry: 0, capped: 0 };

function zeroFigures(): Figures {
  return { revenue: ZERO, cost: ZERO, margin: ZERO, overage: ZERO, denied: 0, ranDry: 0, capped: 0 };
}

function addFigures(into: Figures, f: Figures): void {
  into.revenue = into.revenue.plus(f.revenue);
  into.cost = into.cost.plus(f.cost);
  into.margin = into.margin.plus(f.margin);
  into.overage = into.overage.plus(f.overage);
  into.denied += f.denied;
  into.ranDry += f.ranDry;
  into.capped += f.capped;
}

/** Percent change of `change` over `base`, 2 places; null when there is no base to compare with. */
export function percentOf(change: Decimal, base: Decimal): Decimal | null {
  if (base.isZero()) return null;
  return change.div(base.abs()).times(100).toDecimalPlaces(2);
}

/** Is the entitlement limited for this customer (plan limit or a contract override)? Its usage charge is then overage. */
function limitedEntitlements(
  policy: CompiledPolicy,
  customer: string,
  plan: string | null,
  addOns: readonly string[] = [],
): Set<string> {
  const out = new Set<string>();
  // With its add-ons stacked on: an entitlement an add-on limits is one whose charge is overage.
  const ents = plan === null ? undefined : stackedPlan(policy.plans, plan, addOns)?.entitlements;
  const overrides = policy.customers[customer]?.overrides ?? {};
  for (const ent of Object.values(ents ?? {})) {
    if (ent.kind !== "metered") continue;
    const o = overrides[ent.id];
    const limit = o && o.limit !== undefined ? o.limit : ent.limit;
    if (limit !== null) out.add(ent.id);
  }
  return out;
}

function invoiceFigures(
  policy: CompiledPolicy,
  inv: BilledInvoice | undefined,
  replay: CustomerReplay,
): Figures {
  const refused = { denied: replay.denied, ranDry: replay.ranDry, capped: replay.capped };
  if (!inv) return { ...zeroFigures(), ...refused };
  const limited = limitedEntitlements(policy, inv.customer, inv.plan, inv.addOns);
  let overage = ZERO;
  for (const line of inv.lines) {
    if (line.kind === "usage" && line.entitlement !== null && limited.has(line.entitlement))
      overage = overage.plus(line.amount);
  }
  // Costs are in the policy currency: an invoice in another has no margin to compute (no exchange rates).
  return {
    revenue: inv.total,
    cost: inv.cost,
    margin: inv.currency === policy.currency ? inv.total.minus(inv.cost) : ZERO,
    overage,
    ...refused,
  };
}

/** One currency's running sums. */
interface Sums {
  base: Figures;
  head: Figures;
  customers: number;
  affected: number;
  newlyBlocked: number;
  ranDry: { base: number; head: number };
  capped: { base: number; head: number };
}

function emptySums(): Sums {
  return {
    base: zeroFigures(),
    head: zeroFigures(),
    customers: 0,
    affected: 0,
    newlyBlocked: 0,
    ranDry: { base: 0, head: 0 },
    capped: { base: 0, head: 0 },
  };
}

function totalsOf(t: Sums): SimulationTotals {
  const change = t.head.revenue.minus(t.base.revenue);
  return {
    base: t.base,
    head: t.head,
    change,
    changePct: percentOf(change, t.base.revenue),
    customersAffected: t.affected,
    customersNewlyBlocked: t.newlyBlocked,
    customersRanDry: t.ranDry,
    customersCapped: t.capped,
    customers: t.customers,
  };
}

/** Ascending by percent change; a change from nothing (null percent) counts as the largest. */
function pctOrder(a: CustomerRow, b: CustomerRow): number {
  const pa = a.changePct ?? null;
  const pb = b.changePct ?? null;
  if (pa === null && pb === null) return a.change.comparedTo(b.change);
  if (pa === null) return a.change.gt(0) ? 1 : -1;
  if (pb === null) return b.change.gt(0) ? -1 : 1;
  return pa.comparedTo(pb);
}

function planName(base: CompiledPolicy, head: CompiledPolicy, plan: string): string {
  return head.plans[plan]?.name ?? base.plans[plan]?.name ?? plan;
}

/**
 * Compare two policies over one period. Pure: bills and replays come in,
 * the report (per customer, per plan, totals, movers) comes out.
 */
export function compareSimulation(
  base: SimulationSide,
  head: SimulationSide,
  period: { label: string; start: number; end: number },
): SimulationReport {
  const baseInv = new Map(base.bill.invoices.map((i) => [i.customer, i]));
  const headInv = new Map(head.bill.invoices.map((i) => [i.customer, i]));
  const ids = new Set<string>([
    ...baseInv.keys(),
    ...headInv.keys(),
    ...base.replay.customers.keys(),
    ...head.replay.customers.keys(),
  ]);
  const customers: CustomerRow[] = [];
  for (const customer of [...ids].sort()) {
    const bi = baseInv.get(customer);
    const hi = headInv.get(customer);
    const br = base.replay.customers.get(customer) ?? EMPTY_REPLAY;
    const hr = head.replay.customers.get(customer) ?? EMPTY_REPLAY;
    const b = invoiceFigures(base.policy, bi, br);
    const h = invoiceFigures(head.policy, hi, hr);
    const currency = hi?.currency ?? bi?.currency ?? head.policy.currency;
    // Amounts in two currencies are not compared (there are no exchange rates).
    const comparable = bi === undefined || bi.currency === currency;
    const change = comparable ? h.revenue.minus(b.revenue) : ZERO;
    customers.push({
      customer,
      basePlan: bi?.plan ?? null,
      headPlan: hi?.plan ?? null,
      currency,
      ...(comparable ? {} : { baseCurrency: bi.currency }),
      base: b,
      head: h,
      change,
      changePct: comparable ? percentOf(change, b.revenue) : null,
      headDeniedBy: hr.deniedBy,
    });
  }

  const plans = new Map<string, PlanRow>();
  const planRow = (plan: string, currency: string): PlanRow => {
    const key = `${plan}\u0000${currency}`;
    let row = plans.get(key);
    if (!row) {
      row = {
        plan,
        currency,
        name: plan === NO_PLAN ? plan : planName(base.policy, head.policy, plan),
        baseCustomers: 0,
        headCustomers: 0,
        base: zeroFigures(),
        head: zeroFigures(),
        change: ZERO,
        changePct: null,
      };
      plans.set(key, row);
    }
    return row;
  };
  const own = head.policy.currency;
  const sums = new Map<string, Sums>([[own, emptySums()]]);
  const sumsOf = (currency: string): Sums => {
    let t = sums.get(currency);
    if (!t) sums.set(currency, (t = emptySums()));
    return t;
  };
  for (const c of customers) {
    const baseCurrency = c.baseCurrency ?? c.currency;
    const bp = planRow(c.basePlan ?? NO_PLAN, baseCurrency);
    const hp = planRow(c.headPlan ?? NO_PLAN, c.currency);
    bp.baseCustomers += 1;
    hp.headCustomers += 1;
    addFigures(bp.base, c.base);
    addFigures(hp.head, c.head);
    const bt = sumsOf(baseCurrency);
    const ht = sumsOf(c.currency);
    addFigures(bt.base, c.base);
    addFigures(ht.head, c.head);
    ht.customers += 1;
    if (c.baseCurrency !== undefined || !c.change.isZero() || c.base.denied !== c.head.denied)
      ht.affected += 1;
    if (c.head.denied > 0 && c.base.denied === 0) ht.newlyBlocked += 1;
    if (c.base.ranDry > 0) bt.ranDry.base += 1;
    if (c.head.ranDry > 0) ht.ranDry.head += 1;
    if (c.base.capped > 0) bt.capped.base += 1;
    if (c.head.capped > 0) ht.capped.head += 1;
  }
  const planRows = [...plans.values()];
  for (const p of planRows) {
    p.change = p.head.revenue.minus(p.base.revenue);
    p.changePct = percentOf(p.change, p.base.revenue);
  }
  // Plans by id (compiled policies keep no authoring order), then currency; customers without a plan last.
  planRows.sort(
    (a, b) =>
      (a.plan === NO_PLAN ? 1 : b.plan === NO_PLAN ? -1 : a.plan.localeCompare(b.plan)) ||
      (a.currency === own ? -1 : b.currency === own ? 1 : a.currency.localeCompare(b.currency)),
  );
  const totalsByCurrency: Record<string, SimulationTotals> = {};
  for (const code of [own, ...[...sums.keys()].filter((c) => c !== own).sort()])
    totalsByCurrency[code] = totalsOf(sums.get(code) as Sums);
  // Movers by amount within one currency; across currencies only percentages compare.
  const single = sums.size === 1;
  const up = (a: CustomerRow, b: CustomerRow) =>
    (single ? b.change.comparedTo(a.change) : pctOrder(b, a)) || a.customer.localeCompare(b.customer);
  return {
    base: base.info,
    head: head.info,
    period,
    timezone: head.policy.timezone,
    currency: head.policy.currency,
    currencyDigits: head.policy.currencyDigits,
    events: Math.max(base.replay.events, head.replay.events),
    notReplayed: base.replay.notReplayed ?? [],
    totals: totalsByCurrency[own] as SimulationTotals,
    totalsByCurrency,
    plans: planRows,
    customers,
    moversUp: customers
      .filter((c) => c.change.gt(0))
      .sort(up)
      .slice(0, TOP_MOVERS),
    moversDown: customers
      .filter((c) => c.change.lt(0))
      .sort((a, b) => up(b, a))
      .slice(0, TOP_MOVERS),
    newlyBlocked: customers
      .filter((c) => c.head.denied > 0 && c.base.denied === 0)
      .sort((a, b) => b.head.denied - a.head.denied || a.customer.localeCompare(b.customer)),
    newlyRanDry: customers
      .filter((c) => c.head.ranDry > 0 && c.base.ranDry === 0)
      .sort((a, b) => b.head.ranDry - a.head.ranDry || a.customer.localeCompare(b.customer)),
    newlyCapped: customers
      .filter((c) => c.head.capped > 0 && c.base.capped === 0)
      .sort((a, b) => b.head.capped - a.head.capped || a.customer.localeCompare(b.customer)),
  };
}
