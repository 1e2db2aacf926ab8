import type { CustomerRow, SimulationReport } from "limitr-engine/core/simulate/types";
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

/** PR comments are capped by the host (65,536 characters); stay well below. */
export const MARKDOWN_BUDGET = 60_000;
/** Room kept for the closing lines and the "and N more" notes. */
const RESERVE = 2_000;

/** Table cell text: pipes and newlines would break the row. */
function cell(text: string): string {
  return text
    .replace(/\\/g, "\\\\")
    .replace(/\|/g, "\\|")
    .replace(/[\r\n]+/g, " ");
}

function row(cells: string[]): string {
  return `| ${cells.map(cell).join(" | ")} |`;
}

function header(cells: string[], align: string[]): string[] {
  return [row(cells), `|${align.map((a) => (a === "r" ? " ---: " : " --- ")).join("|")}|`];
}

const CUSTOMER_COLUMNS = [
  "Customer",
  "Plan",
  "Base",
  "Head",
  "Change",
  "%",
  "Denied (base)",
  "Denied (head)",
];
const CUSTOMER_ALIGN = ["l", "l", "r", "r", "r", "r", "r", "r"];

function customerRow(report: SimulationReport, c: CustomerRow): string {
  const cells = customerFigures(report, c);
  cells[0] = `\`${c.customer}\``;
  return row(cells);
}

/** Rows while they fit in `budget` characters, then one "and N more" line. */
function fitted(rows: string[], budget: number, noun: string): string[] {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as string;
    if (used + r.length + 1 > budget) {
      out.push("", `… and ${rows.length - i} more ${noun} (run with \`--format json\` for all of them)`);
      break;
    }
    out.push(r);
    used += r.length + 1;
  }
  return out;
}

function details(summary: string, body: string[]): string[] {
  return ["<details>", `<summary>${summary}</summary>`, "", ...body, "", "</details>", ""];
}

/** `--format markdown`: a pull-request comment, summary first, details collapsed, under 60,000 characters. */
export function simulationMarkdown(report: SimulationReport, guardrail: GuardrailOutcome | null): string {
  const t = report.totals;
  const out: string[] = [];
  out.push(`### limitr simulate: ${cell(report.period.label)}`, "");
  out.push(
    `\`${cell(sideLabel(report.base))}\` → \`${cell(sideLabel(report.head))}\` · ${report.events} events · ${t.customers} customers · ${report.currency}`,
    "",
  );
  if (guardrail) {
    out.push(
      guardrail.tripped
        ? `> [!CAUTION]\n> Guardrail tripped: \`${cell(guardrail.conditions.join(" || "))}\``
        : `> Guardrail passed: \`${cell(guardrail.expression)}\``,
      "",
    );
  }
  out.push(...header(["", "Base", "Head", "Change"], ["l", "r", "r", "r"]));
  out.push(
    row([
      "**Revenue**",
      money(report, t.base.revenue),
      money(report, t.head.revenue),
      `**${signedMoney(report, t.change)}** (${signedPct(t.changePct)})`,
    ]),
  );
  out.push(
    row([
      "Cost",
      money(report, t.base.cost),
      money(report, t.head.cost),
      signedMoney(report, t.head.cost.minus(t.base.cost)),
    ]),
  );
  out.push(
    row([
      "Margin",
      money(report, t.base.margin),
      money(report, t.head.margin),
      signedMoney(report, t.head.margin.minus(t.base.margin)),
    ]),
  );
  out.push(
    row([
      "Overage",
      money(report, t.base.overage),
      money(report, t.head.overage),
      signedMoney(report, t.head.overage.minus(t.base.overage)),
    ]),
  );
  const dd = t.head.denied - t.base.denied;
  out.push(
    row(["Denied calls", String(t.base.denied), String(t.head.denied), dd > 0 ? `+${dd}` : String(dd)]),
  );
  out.push(row(["Customers affected", "", "", String(t.customersAffected)]));
  out.push(row(["Newly blocked", "", "", String(t.customersNewlyBlocked)]));
  const dry = t.customersRanDry;
  const capped = t.customersCapped;
  // Only policies with wallets or spend caps have these rows: other reports stay as they were.
  if (dry.base + dry.head + capped.base + capped.head > 0) {
    const change = (a: number, b: number) => (b - a > 0 ? `+${b - a}` : String(b - a));
    out.push(
      row(["Wallets run dry (customers)", String(dry.base), String(dry.head), change(dry.base, dry.head)]),
    );
    out.push(
      row([
        "Spend caps hit (customers)",
        String(capped.base),
        String(capped.head),
        change(capped.base, capped.head),
      ]),
    );
  }
  out.push("");
  const others = otherCurrencyLines(report);
  if (others.length > 0) out.push(...others.map((l) => `- ${cell(l)}`), "");
  const skipped = notReplayedNote(report);
  if (skipped) out.push(`_${cell(skipped)}_`, "");

  const plans = [
    ...header(
      ["Plan", "Customers", "Base", "Head", "Change", "%", "Denied (base)", "Denied (head)"],
      ["l", "r", "r", "r", "r", "r", "r", "r"],
    ),
    ...fitted(
      report.plans.map((p) =>
        row([
          `${p.name === p.plan ? `\`${p.plan}\`` : `${p.name} (\`${p.plan}\`)`}${planLabel(report, p) === p.plan ? "" : ` ${p.currency}`}`,
          p.baseCustomers === p.headCustomers
            ? String(p.headCustomers)
            : `${p.baseCustomers} → ${p.headCustomers}`,
          money(report, p.base.revenue, p.currency),
          money(report, p.head.revenue, p.currency),
          signedMoney(report, p.change, p.currency),
          signedPct(p.changePct),
          String(p.base.denied),
          String(p.head.denied),
        ]),
      ),
      8_000,
      "plans",
    ),
  ];
  out.push(...details(`Revenue by plan (${report.plans.length})`, plans));

  for (const [title, rows] of [
    ["Top movers up", report.moversUp],
    ["Top movers down", report.moversDown],
  ] as const) {
    if (rows.length === 0) continue;
    out.push(
      ...details(`${title} (${rows.length})`, [
        ...header(CUSTOMER_COLUMNS, CUSTOMER_ALIGN),
        ...rows.map((c) => customerRow(report, c)),
      ]),
    );
  }
  if (report.newlyBlocked.length > 0) {
    const body = [
      ...header(["Customer", "Plan", "Denied (head)", "By entitlement"], ["l", "l", "r", "l"]),
      ...fitted(
        report.newlyBlocked.map((c) =>
          row([
            `\`${c.customer}\``,
            c.headPlan ?? "-",
            String(c.head.denied),
            Object.entries(c.headDeniedBy)
              .map(([e, n]) => `${e}: ${n}`)
              .join(", "),
          ]),
        ),
        10_000,
        "customers",
      ),
    ];
    out.push(...details(`Customers newly blocked (${report.newlyBlocked.length})`, body));
  }
  for (const [title, rows, count] of [
    ["Wallets newly run dry", report.newlyRanDry, (c: CustomerRow) => c.head.ranDry],
    ["Spend caps newly hit", report.newlyCapped, (c: CustomerRow) => c.head.capped],
  ] as const) {
    if (rows.length === 0) continue;
    const body = [
      ...header(["Customer", "Plan", "Calls refused (head)"], ["l", "l", "r"]),
      ...fitted(
        rows.map((c) => row([`\`${c.customer}\``, c.headPlan ?? "-", String(count(c))])),
        6_000,
        "customers",
      ),
    ];
    out.push(...details(`${title} (${rows.length})`, body));
  }
  const changed = report.customers.filter((c) => !c.change.isZero() || c.base.denied !== c.head.denied);
  if (changed.length > 0) {
    const used = out.join("\n").length;
    const budget = Math.max(0, MARKDOWN_BUDGET - RESERVE - used);
    // Biggest changes first: when the list is cut, the rows kept are the ones that matter.
    const ordered = [...changed].sort(
      (a, b) => b.change.abs().comparedTo(a.change.abs()) || a.customer.localeCompare(b.customer),
    );
    const body = [
      ...header(CUSTOMER_COLUMNS, CUSTOMER_ALIGN),
      ...fitted(
        ordered.map((c) => customerRow(report, c)),
        budget,
        "customers",
      ),
    ];
    out.push(...details(`Customers affected (${changed.length})`, body));
  }
  out.push(`<sub>base digest \`${report.base.digest}\` · head digest \`${report.head.digest}\`</sub>`);
  return `${out.join("\n")}\n`;
}
