import { currencyDigits, type Decimal, formatMoney } from "limitr-engine/core/money";
import { formatInstant } from "limitr-engine/core/periods";
import type { GuardrailResult } from "limitr-engine/core/simulate/guardrail";
import type {
  CustomerRow,
  Figures,
  PlanRow,
  SideInfo,
  SimulationReport,
  SimulationTotals,
} from "limitr-engine/core/simulate/types";

/** What the guardrail concluded, shown in every format when `--fail-on` was given. */
export interface GuardrailOutcome extends GuardrailResult {
  expression: string;
}

/** Shared number formatting for the simulate renderers: an amount in `currency` (default: the policy's). */
export function money(report: SimulationReport, v: Decimal, currency = report.currency): string {
  return formatMoney(v, currency === report.currency ? report.currencyDigits : currencyDigits(currency));
}

export function signedMoney(report: SimulationReport, v: Decimal, currency = report.currency): string {
  const text = money(report, v, currency);
  return v.gt(0) ? `+${text}` : text;
}

/** Currencies with customers, the policy currency first (itself when there are none). */
export function currenciesInUse(report: SimulationReport): [string, SimulationTotals][] {
  const used = Object.entries(report.totalsByCurrency).filter(
    ([, t]) => t.customers > 0 || t.base.revenue.gt(0),
  );
  return used.length > 0 ? used : [[report.currency, report.totals]];
}

/** Whether any amount of the report is in another currency than the policy's. */
export function multiCurrency(report: SimulationReport): boolean {
  const used = currenciesInUse(report);
  return used.length > 1 || used[0]?.[0] !== report.currency;
}

/**
 * One line per currency other than the policy's that customers are invoiced
 * in: its own revenue figures (never summed into the policy currency's).
 */
export function otherCurrencyLines(report: SimulationReport): string[] {
  return currenciesInUse(report)
    .filter(([code]) => code !== report.currency)
    .map(
      ([code, t]) =>
        `${code}: revenue ${money(report, t.base.revenue, code)} -> ${money(report, t.head.revenue, code)} ` +
        `(${signedMoney(report, t.change, code)}, ${signedPct(t.changePct)}), ${t.customers} customers, ` +
        `${t.customersAffected} affected (costs and margins are in ${report.currency} only)`,
    );
}

/** A plan row's label: the plan, with its currency once the report has more than one. */
export function planLabel(report: SimulationReport, p: PlanRow): string {
  return multiCurrency(report) ? `${p.plan} (${p.currency})` : p.plan;
}

/**
 * Says which entitlements the replay left out (their limits are the same under
 * both policies, so their denials would be too); null when every one was replayed.
 */
export function notReplayedNote(report: SimulationReport): string | null {
  const n = report.notReplayed.length;
  if (n === 0) return null;
  const listed = report.notReplayed.slice(0, 8).join(", ") + (n > 8 ? `, ... (${n - 8} more)` : "");
  return `denied calls count only limits that differ between the policies; ${n} entitlement(s) with the same enforcement under both were not replayed (${listed}); --full-replay counts them too`;
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
  // Amounts carry their currency once the report has more than one.
  const tag = multiCurrency(report) ? ` ${c.currency}` : "";
  const baseTag = c.baseCurrency !== undefined ? ` ${c.baseCurrency}` : tag;
  return [
    c.customer,
    plan,
    `${money(report, c.base.revenue, c.baseCurrency ?? c.currency)}${baseTag}`,
    `${money(report, c.head.revenue, c.currency)}${tag}`,
    `${signedMoney(report, c.change, c.currency)}${tag}`,
    signedPct(c.changePct),
    String(c.base.denied),
    String(c.head.denied),
  ];
}

export function sideLabel(s: SideInfo): string {
  return s.commit ? `${s.ref} (${s.commit.slice(0, 7)})` : s.ref;
}

const pct = (v: Decimal | null) => (v === null ? null : v.toNumber());

/**
 * One side's figures in `currency`. Costs are in the policy currency, so a
 * side in another currency reports no cost and no margin (null).
 */
function figures(report: SimulationReport, prefix: "base" | "head", f: Figures, currency: string) {
  const own = currency === report.currency;
  return {
    [`${prefix}_revenue`]: money(report, f.revenue, currency),
    [`${prefix}_cost`]: own ? money(report, f.cost) : null,
    [`${prefix}_margin`]: own ? money(report, f.margin) : null,
    [`${prefix}_overage`]: money(report, f.overage, currency),
    [`${prefix}_denied`]: f.denied,
    [`${prefix}_ran_dry`]: f.ranDry,
    [`${prefix}_capped`]: f.capped,
  };
}

function totalsJson(report: SimulationReport, t: SimulationTotals, currency: string) {
  const m = (v: Decimal) => money(report, v, currency);
  const own = currency === report.currency;
  return {
    base_revenue: m(t.base.revenue),
    head_revenue: m(t.head.revenue),
    revenue_change: m(t.change),
    revenue_change_pct: pct(t.changePct),
    base_cost: own ? m(t.base.cost) : null,
    head_cost: own ? m(t.head.cost) : null,
    base_margin: own ? m(t.base.margin) : null,
    head_margin: own ? m(t.head.margin) : null,
    base_overage: m(t.base.overage),
    head_overage: m(t.head.overage),
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
  };
}

function planJson(report: SimulationReport, p: PlanRow) {
  return {
    plan: p.plan,
    currency: p.currency,
    name: p.name,
    base_customers: p.baseCustomers,
    head_customers: p.headCustomers,
    ...figures(report, "base", p.base, p.currency),
    ...figures(report, "head", p.head, p.currency),
    revenue_change: money(report, p.change, p.currency),
    revenue_change_pct: pct(p.changePct),
  };
}

function customerJson(report: SimulationReport, c: CustomerRow) {
  return {
    customer: c.customer,
    base_plan: c.basePlan,
    head_plan: c.headPlan,
    currency: c.currency,
    base_currency: c.baseCurrency ?? c.currency,
    ...figures(report, "base", c.base, c.baseCurrency ?? c.currency),
    ...figures(report, "head", c.head, c.currency),
    revenue_change: money(report, c.change, c.currency),
    revenue_change_pct: pct(c.changePct),
    head_denied_by: c.headDeniedBy,
  };
}

/**
 * `--format json` (formatVersion 1): money as decimal strings in the minor
 * units of its currency. `totals` are the policy currency's;
 * `totals_by_currency` has every currency a customer is invoiced in.
 */
export function simulationJson(report: SimulationReport, guardrail: GuardrailOutcome | null) {
  const byCurrency: Record<string, ReturnType<typeof totalsJson>> = {};
  for (const [code, t] of Object.entries(report.totalsByCurrency))
    byCurrency[code] = totalsJson(report, t, code);
  const mover = (c: CustomerRow) => ({
    customer: c.customer,
    currency: c.currency,
    revenue_change: money(report, c.change, c.currency),
  });
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
    not_replayed: report.notReplayed,
    totals: totalsJson(report, report.totals, report.currency),
    totals_by_currency: byCurrency,
    plans: report.plans.map((p) => planJson(report, p)),
    customers: report.customers.map((c) => customerJson(report, c)),
    movers: {
      up: report.moversUp.map(mover),
      down: report.moversDown.map(mover),
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
