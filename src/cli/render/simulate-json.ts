import { type Decimal, formatMoney } from "limitr-engine/core/money";
import { formatInstant } from "limitr-engine/core/periods";
import type { GuardrailResult } from "limitr-engine/core/simulate/guardrail";
import type {
  CustomerRow,
  Figures,
  PlanRow,
  SideInfo,
  SimulationReport,
} from "limitr-engine/core/simulate/types";

/** What the guardrail concluded, shown in every format when `--fail-on` was given. */
export interface GuardrailOutcome extends GuardrailResult {
  expression: string;
}

/** Shared number formatting for the simulate renderers. */
export function money(report: SimulationReport, v: Decimal): string {
  return formatMoney(v, report.currencyDigits);
}

export function signedMoney(report: SimulationReport, v: Decimal): string {
  const text = money(report, v);
  return v.gt(0) ? `+${text}` : text;
}

export function signedPct(v: Decimal | null): string {
  if (v === null) return "n/a";
  return `${v.gt(0) ? "+" : ""}${v.toFixed(2)}%`;
}

/**
 * One customer's cells, in the order of every simulate table: customer, plan
 * (base `arrow` head when it changed), base and head revenue, change, change
 * percent, base and head denials.
 */
export function customerFigures(report: SimulationReport, c: CustomerRow, arrow = "→"): string[] {
  const plan =
    c.basePlan === c.headPlan ? (c.headPlan ?? "-") : `${c.basePlan ?? "-"} ${arrow} ${c.headPlan ?? "-"}`;
  return [
    c.customer,
    plan,
    money(report, c.base.revenue),
    money(report, c.head.revenue),
    signedMoney(report, c.change),
    signedPct(c.changePct),
    String(c.base.denied),
    String(c.head.denied),
  ];
}

export function sideLabel(s: SideInfo): string {
  return s.commit ? `${s.ref} (${s.commit.slice(0, 7)})` : s.ref;
}

const pct = (v: Decimal | null) => (v === null ? null : v.toNumber());

function figures(report: SimulationReport, prefix: "base" | "head", f: Figures) {
  return {
    [`${prefix}_revenue`]: money(report, f.revenue),
    [`${prefix}_cost`]: money(report, f.cost),
    [`${prefix}_margin`]: money(report, f.margin),
    [`${prefix}_overage`]: money(report, f.overage),
    [`${prefix}_denied`]: f.denied,
    [`${prefix}_ran_dry`]: f.ranDry,
    [`${prefix}_capped`]: f.capped,
  };
}

function planJson(report: SimulationReport, p: PlanRow) {
  return {
    plan: p.plan,
    name: p.name,
    base_customers: p.baseCustomers,
    head_customers: p.headCustomers,
    ...figures(report, "base", p.base),
    ...figures(report, "head", p.head),
    revenue_change: money(report, p.change),
    revenue_change_pct: pct(p.changePct),
  };
}

function customerJson(report: SimulationReport, c: CustomerRow) {
  return {
    customer: c.customer,
    base_plan: c.basePlan,
    head_plan: c.headPlan,
    ...figures(report, "base", c.base),
    ...figures(report, "head", c.head),
    revenue_change: money(report, c.change),
    revenue_change_pct: pct(c.changePct),
    head_denied_by: c.headDeniedBy,
  };
}

/** `--format json` (formatVersion 1): money as decimal strings in the currency's minor units. */
export function simulationJson(report: SimulationReport, guardrail: GuardrailOutcome | null) {
  const t = report.totals;
  return {
    formatVersion: 1,
    base: report.base,
    head: report.head,
    period: {
      label: report.period.label,
      start: formatInstant(report.period.start, report.timezone),
      end: formatInstant(report.period.end, report.timezone),
    },
    currency: report.currency,
    events: report.events,
    totals: {
      base_revenue: money(report, t.base.revenue),
      head_revenue: money(report, t.head.revenue),
      revenue_change: money(report, t.change),
      revenue_change_pct: pct(t.changePct),
      base_cost: money(report, t.base.cost),
      head_cost: money(report, t.head.cost),
      base_margin: money(report, t.base.margin),
      head_margin: money(report, t.head.margin),
      base_overage: money(report, t.base.overage),
      head_overage: money(report, t.head.overage),
      base_denied: t.base.denied,
      head_denied: t.head.denied,
      denied_change: t.head.denied - t.base.denied,
      customers: t.customers,
      customers_affected: t.customersAffected,
      customers_newly_blocked: t.customersNewlyBlocked,
      base_customers_ran_dry: t.customersRanDry.base,
      head_customers_ran_dry: t.customersRanDry.head,
      base_customers_capped: t.customersCapped.base,
      head_customers_capped: t.customersCapped.head,
    },
    plans: report.plans.map((p) => planJson(report, p)),
    customers: report.customers.map((c) => customerJson(report, c)),
    movers: {
      up: report.moversUp.map((c) => ({ customer: c.customer, revenue_change: money(report, c.change) })),
      down: report.moversDown.map((c) => ({ customer: c.customer, revenue_change: money(report, c.change) })),
    },
    newly_blocked: report.newlyBlocked.map((c) => ({ customer: c.customer, head_denied: c.head.denied })),
    newly_ran_dry: report.newlyRanDry.map((c) => ({ customer: c.customer, head_ran_dry: c.head.ranDry })),
    newly_capped: report.newlyCapped.map((c) => ({ customer: c.customer, head_capped: c.head.capped })),
    guardrail: guardrail && {
      expression: guardrail.expression,
      tripped: guardrail.tripped,
      conditions: guardrail.conditions,
    },
  };
}
