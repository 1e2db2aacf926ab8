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

const EMPTY_REPLAY: CustomerReplay = { denied: 0, deniedBy: {} };

function zeroFigures(): Figures {
  return { revenue: ZERO, cost: ZERO, margin: ZERO, overage: ZERO, denied: 0 };
}

function addFigures(into: Figures, f: Figures): void {
  into.revenue = into.revenue.plus(f.revenue);
  into.cost = into.cost.plus(f.cost);
  into.margin = into.margin.plus(f.margin);
  into.overage = into.overage.plus(f.overage);
  into.denied += f.denied;
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
  if (!inv) return { ...zeroFigures(), denied: replay.denied };
  const limited = limitedEntitlements(policy, inv.customer, inv.plan, inv.addOns);
  let overage = ZERO;
  for (const line of inv.lines) {
    if (line.kind === "usage" && line.entitlement !== null && limited.has(line.entitlement))
      overage = overage.plus(line.amount);
  }
  return {
    revenue: inv.total,
    cost: inv.cost,
    margin: inv.total.minus(inv.cost),
    overage,
    denied: replay.denied,
  };
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
    const change = h.revenue.minus(b.revenue);
    customers.push({
      customer,
      basePlan: bi?.plan ?? null,
      headPlan: hi?.plan ?? null,
      base: b,
      head: h,
      change,
      changePct: percentOf(change, b.revenue),
      headDeniedBy: hr.deniedBy,
    });
  }

  const plans = new Map<string, PlanRow>();
  const planRow = (plan: string): PlanRow => {
    let row = plans.get(plan);
    if (!row) {
      row = {
        plan,
        name: plan === NO_PLAN ? plan : planName(base.policy, head.policy, plan),
        baseCustomers: 0,
        headCustomers: 0,
        base: zeroFigures(),
        head: zeroFigures(),
        change: ZERO,
        changePct: null,
      };
      plans.set(plan, row);
    }
    return row;
  };
  const totals = { base: zeroFigures(), head: zeroFigures() };
  let affected = 0;
  let newlyBlocked = 0;
  for (const c of customers) {
    const bp = planRow(c.basePlan ?? NO_PLAN);
    const hp = planRow(c.headPlan ?? NO_PLAN);
    bp.baseCustomers += 1;
    hp.headCustomers += 1;
    addFigures(bp.base, c.base);
    addFigures(hp.head, c.head);
    addFigures(totals.base, c.base);
    addFigures(totals.head, c.head);
    if (!c.change.isZero() || c.base.denied !== c.head.denied) affected += 1;
    if (c.head.denied > 0 && c.base.denied === 0) newlyBlocked += 1;
  }
  const planRows = [...plans.values()];
  for (const p of planRows) {
    p.change = p.head.revenue.minus(p.base.revenue);
    p.changePct = percentOf(p.change, p.base.revenue);
  }
  // Plans by id (compiled policies keep no authoring order); customers without a plan last.
  planRows.sort((a, b) => (a.plan === NO_PLAN ? 1 : b.plan === NO_PLAN ? -1 : a.plan.localeCompare(b.plan)));

  const change = totals.head.revenue.minus(totals.base.revenue);
  return {
    base: base.info,
    head: head.info,
    period,
    timezone: head.policy.timezone,
    currency: head.policy.currency,
    currencyDigits: head.policy.currencyDigits,
    events: Math.max(base.replay.events, head.replay.events),
    totals: {
      base: totals.base,
      head: totals.head,
      change,
      changePct: percentOf(change, totals.base.revenue),
      customersAffected: affected,
      customersNewlyBlocked: newlyBlocked,
      customers: customers.length,
    },
    plans: planRows,
    customers,
    moversUp: customers
      .filter((c) => c.change.gt(0))
      .sort((a, b) => b.change.comparedTo(a.change) || a.customer.localeCompare(b.customer))
      .slice(0, TOP_MOVERS),
    moversDown: customers
      .filter((c) => c.change.lt(0))
      .sort((a, b) => a.change.comparedTo(b.change) || a.customer.localeCompare(b.customer))
      .slice(0, TOP_MOVERS),
    newlyBlocked: customers
      .filter((c) => c.head.denied > 0 && c.base.denied === 0)
      .sort((a, b) => b.head.denied - a.head.denied || a.customer.localeCompare(b.customer)),
  };
}
