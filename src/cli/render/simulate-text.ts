import type { ChalkInstance } from "chalk";
import type { CustomerRow, Figures, SimulationReport } from "limitr-engine/core/simulate/types";
import {
  customerFigures,
  type GuardrailOutcome,
  money,
  notReplayedNote,
  otherCurrencyLines,
  planLabel,
  sideLabel,
  signedMoney,
  signedPct,
} from "./simulate-json.js";

/** Customers listed in full before the text report summarises the rest ("and N more"). */
const TEXT_CUSTOMERS = 50;

/** Aligned columns: the first left-aligned, the rest right-aligned (numbers). */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

function customerRows(report: SimulationReport, rows: CustomerRow[]): string[][] {
  return rows.map((c) => customerFigures(report, c, "->"));
}

const CUSTOMER_HEADER = ["customer", "plan", "base", "head", "change", "%", "denied base", "denied head"];

export function simulationText(
  report: SimulationReport,
  guardrail: GuardrailOutcome | null,
  color: ChalkInstance,
): string {
  const t = report.totals;
  const out: string[] = [];
  out.push(
    color.bold(
      `Simulation of ${report.period.label}: ${sideLabel(report.base)} -> ${sideLabel(report.head)}`,
    ),
  );
  out.push(`${report.events} events, ${t.customers} customers, ${report.currency}`);
  out.push("");
  out.push(
    ...table(
      ["", "base", "head", "change"],
      [
        [
          "revenue",
          money(report, t.base.revenue),
          money(report, t.head.revenue),
          `${signedMoney(report, t.change)} (${signedPct(t.changePct)})`,
        ],
        [
          "cost",
          money(report, t.base.cost),
          money(report, t.head.cost),
          signedMoney(report, t.head.cost.minus(t.base.cost)),
        ],
        [
          "margin",
          money(report, t.base.margin),
          money(report, t.head.margin),
          signedMoney(report, t.head.margin.minus(t.base.margin)),
        ],
        [
          "overage",
          money(report, t.base.overage),
          money(report, t.head.overage),
          signedMoney(report, t.head.overage.minus(t.base.overage)),
        ],
        ["denied calls", String(t.base.denied), String(t.head.denied), signed(t.head.denied - t.base.denied)],
      ],
    ),
  );
  for (const line of otherCurrencyLines(report)) out.push(line);
  const skipped = notReplayedNote(report);
  if (skipped) out.push(color.dim(skipped));
  out.push("");
  out.push(`customers affected: ${t.customersAffected}, newly blocked: ${t.customersNewlyBlocked}`);
  const dry = t.customersRanDry;
  const capped = t.customersCapped;
  // Only policies with wallets or spend caps have something to say here: other reports stay as they were.
  if (dry.base + dry.head + capped.base + capped.head > 0)
    out.push(
      `wallets run dry: ${dry.base} -> ${dry.head} customers, spend caps hit: ${capped.base} -> ${capped.head} customers`,
    );
  out.push("");
  out.push(color.bold("By plan"));
  out.push(
    ...table(
      ["plan", "customers", "base", "head", "change", "%", "denied base", "denied head"],
      report.plans.map((p) => [
        planLabel(report, p),
        p.baseCustomers === p.headCustomers
          ? String(p.headCustomers)
          : `${p.baseCustomers} -> ${p.headCustomers}`,
        money(report, p.base.revenue, p.currency),
        money(report, p.head.revenue, p.currency),
        signedMoney(report, p.change, p.currency),
        signedPct(p.changePct),
        String(p.base.denied),
        String(p.head.denied),
      ]),
    ),
  );
  for (const [title, rows] of [
    ["Top movers up", report.moversUp],
    ["Top movers down", report.moversDown],
  ] as const) {
    if (rows.length === 0) continue;
    out.push("", color.bold(title), ...table(CUSTOMER_HEADER, customerRows(report, rows)));
  }
  if (report.newlyBlocked.length > 0) {
    out.push("", color.bold(`Newly blocked (${report.newlyBlocked.length})`));
    const shown = report.newlyBlocked.slice(0, TEXT_CUSTOMERS);
    out.push(
      ...table(
        ["customer", "plan", "denied head", "by entitlement"],
        shown.map((c) => [
          c.customer,
          c.headPlan ?? "-",
          String(c.head.denied),
          Object.entries(c.headDeniedBy)
            .map(([e, n]) => `${e} ${n}`)
            .join(", "),
        ]),
      ),
    );
    if (report.newlyBlocked.length > shown.length)
      out.push(`... and ${report.newlyBlocked.length - shown.length} more`);
  }
  for (const [title, rows, pick] of [
    ["Wallets newly run dry", report.newlyRanDry, (f: Figures) => f.ranDry],
    ["Spend caps newly hit", report.newlyCapped, (f: Figures) => f.capped],
  ] as const) {
    if (rows.length === 0) continue;
    const shown = rows.slice(0, TEXT_CUSTOMERS);
    out.push("", color.bold(`${title} (${rows.length})`));
    out.push(
      ...table(
        ["customer", "plan", "refused head"],
        shown.map((c) => [c.customer, c.headPlan ?? "-", String(pick(c.head))]),
      ),
    );
    if (rows.length > shown.length) out.push(`... and ${rows.length - shown.length} more`);
  }
  const changed = report.customers.filter((c) => !c.change.isZero() || c.base.denied !== c.head.denied);
  if (changed.length > 0) {
    out.push("", color.bold(`Customers affected (${changed.length})`));
    out.push(...table(CUSTOMER_HEADER, customerRows(report, changed.slice(0, TEXT_CUSTOMERS))));
    if (changed.length > TEXT_CUSTOMERS)
      out.push(`... and ${changed.length - TEXT_CUSTOMERS} more (--format json lists all)`);
  }
  if (guardrail) out.push("", guardrailLine(guardrail, color));
  return `${out.join("\n")}\n`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

export function guardrailLine(g: GuardrailOutcome, color: ChalkInstance): string {
  return g.tripped
    ? color.red(`guardrail tripped: ${g.conditions.join(" || ")}`)
    : color.green(`guardrail passed: ${g.expression}`);
}
