import { type Decimal, dec } from "limitr-engine/core/money";
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

/** Rows of the full customer table before "and N more" (the page must stay light to open offline). */
const HTML_CUSTOMERS = 2_000;
const HISTOGRAM_BINS = 12;

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.meta{color:#59636e;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{padding:.3rem .6rem;border-bottom:1px solid #d1d9e0;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{background:#f6f8fa}
.up{color:#1a7f37}.down{color:#d1242f}
.alert{padding:.6rem 1rem;border-radius:6px;margin:1rem 0}
.tripped{background:#ffebe9;border:1px solid #d1242f}.passed{background:#dafbe1;border:1px solid #1a7f37}
svg{max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}
.legend{font-size:12px;color:#59636e}
@media print{body{margin:0}}
`;

function cls(v: Decimal): string {
  return v.gt(0) ? ' class="up"' : v.lt(0) ? ' class="down"' : "";
}

function tableHtml(header: string[], rows: string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`;
  // Cells arrive already escaped (some carry a class attribute).
  return `<table>${head}${rows.map((r) => `<tr>${r.join("")}</tr>`).join("")}</table>`;
}

const td = (text: string, attr = "") => `<td${attr}>${esc(text)}</td>`;

function customerCells(report: SimulationReport, c: CustomerRow): string[] {
  // The change and its percent are coloured by sign.
  return customerFigures(report, c).map((text, i) => td(text, i === 4 || i === 5 ? cls(c.change) : ""));
}

/** Grouped bars: revenue per plan, base next to head (plan rows in the policy currency: one scale, one currency). */
function planChart(report: SimulationReport): string {
  const plans = report.plans.filter((p) => p.currency === report.currency);
  const values = plans.flatMap((p) => [p.base.revenue.toNumber(), p.head.revenue.toNumber()]);
  const max = Math.max(1e-9, ...values);
  const group = 90;
  const width = Math.max(380, 90 + plans.length * group);
  const height = 240;
  const plot = 170;
  const bars = plans
    .map((p, i) => {
      const x = 90 + i * group;
      const hb = (Math.max(0, p.base.revenue.toNumber()) / max) * plot;
      const hh = (Math.max(0, p.head.revenue.toNumber()) / max) * plot;
      return [
        `<rect x="${x}" y="${(20 + plot - hb).toFixed(1)}" width="30" height="${hb.toFixed(1)}" fill="#8c959f"><title>${esc(`${p.plan} base ${money(report, p.base.revenue)}`)}</title></rect>`,
        `<rect x="${x + 32}" y="${(20 + plot - hh).toFixed(1)}" width="30" height="${hh.toFixed(1)}" fill="#0969da"><title>${esc(`${p.plan} head ${money(report, p.head.revenue)}`)}</title></rect>`,
        `<text x="${x + 31}" y="${20 + plot + 16}" text-anchor="middle">${esc(p.plan)}</text>`,
      ].join("");
    })
    .join("");
  return (
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Revenue by plan, base and head">` +
    `<line x1="85" y1="${20 + plot}" x2="${width - 5}" y2="${20 + plot}" stroke="#d1d9e0"/>` +
    `<text x="82" y="26" text-anchor="end">${esc(money(report, dec(max)))}</text>` +
    `<text x="82" y="${20 + plot}" text-anchor="end">0</text>${bars}</svg>` +
    `<div class="legend"><span style="color:#8c959f">■</span> base · <span style="color:#0969da">■</span> head</div>`
  );
}

/** Histogram of per-customer revenue change among customers whose revenue changed (in the policy currency). */
function changeHistogram(report: SimulationReport): string {
  const changes = report.customers
    .filter((c) => !c.change.isZero() && c.currency === report.currency)
    .map((c) => c.change.toNumber());
  if (changes.length === 0) return "<p>No customer's revenue changed.</p>";
  const lo = Math.min(...changes);
  const hi = Math.max(...changes);
  const span = hi - lo || 1;
  const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
  for (const v of changes)
    bins[Math.min(HISTOGRAM_BINS - 1, Math.floor(((v - lo) / span) * HISTOGRAM_BINS))]! += 1;
  const top = Math.max(...bins);
  const width = 60 + HISTOGRAM_BINS * 50;
  const plot = 150;
  const bars = bins
    .map((n, i) => {
      const h = (n / top) * plot;
      const from = lo + (span * i) / HISTOGRAM_BINS;
      const to = lo + (span * (i + 1)) / HISTOGRAM_BINS;
      const color = to <= 0 ? "#d1242f" : from >= 0 ? "#1a7f37" : "#8c959f";
      return (
        `<rect x="${60 + i * 50}" y="${(20 + plot - h).toFixed(1)}" width="46" height="${h.toFixed(1)}" fill="${color}">` +
        `<title>${esc(`${from.toFixed(report.currencyDigits)} to ${to.toFixed(report.currencyDigits)}: ${n} customers`)}</title></rect>` +
        (n > 0
          ? `<text x="${60 + i * 50 + 23}" y="${(15 + plot - h).toFixed(1)}" text-anchor="middle">${n}</text>`
          : "")
      );
    })
    .join("");
  return (
    `<svg viewBox="0 0 ${width} 210" width="${width}" height="210" role="img" aria-label="Histogram of per-customer revenue change">` +
    `<line x1="55" y1="${20 + plot}" x2="${width - 5}" y2="${20 + plot}" stroke="#d1d9e0"/>${bars}` +
    `<text x="60" y="${20 + plot + 18}">${esc(lo.toFixed(report.currencyDigits))}</text>` +
    `<text x="${width - 10}" y="${20 + plot + 18}" text-anchor="end">${esc(hi.toFixed(report.currencyDigits))}</text></svg>` +
    `<div class="legend">${changes.length} customers with a revenue change, ${HISTOGRAM_BINS} bins of equal width</div>`
  );
}

/** `--format html`: one self-contained page (inline CSS and SVG, no scripts, no external resources). */
export function simulationHtml(report: SimulationReport, guardrail: GuardrailOutcome | null): string {
  const t = report.totals;
  const title = `limitr simulate ${report.period.label}: ${sideLabel(report.base)} → ${sideLabel(report.head)}`;
  const parts: string[] = [];
  parts.push(`<h1>${esc(title)}</h1>`);
  parts.push(
    `<div class="meta">${report.events} events · ${t.customers} customers · ${esc(report.currency)} · base ${esc(report.base.digest)} · head ${esc(report.head.digest)}</div>`,
  );
  if (guardrail) {
    parts.push(
      guardrail.tripped
        ? `<div class="alert tripped">Guardrail tripped: <code>${esc(guardrail.conditions.join(" || "))}</code></div>`
        : `<div class="alert passed">Guardrail passed: <code>${esc(guardrail.expression)}</code></div>`,
    );
  }
  parts.push(
    tableHtml(
      ["", "base", "head", "change"],
      [
        [
          td("revenue"),
          td(money(report, t.base.revenue)),
          td(money(report, t.head.revenue)),
          td(`${signedMoney(report, t.change)} (${signedPct(t.changePct)})`, cls(t.change)),
        ],
        [
          td("cost"),
          td(money(report, t.base.cost)),
          td(money(report, t.head.cost)),
          td(signedMoney(report, t.head.cost.minus(t.base.cost))),
        ],
        [
          td("margin"),
          td(money(report, t.base.margin)),
          td(money(report, t.head.margin)),
          td(signedMoney(report, t.head.margin.minus(t.base.margin))),
        ],
        [
          td("overage"),
          td(money(report, t.base.overage)),
          td(money(report, t.head.overage)),
          td(signedMoney(report, t.head.overage.minus(t.base.overage))),
        ],
        [
          td("denied calls"),
          td(String(t.base.denied)),
          td(String(t.head.denied)),
          td(String(t.head.denied - t.base.denied)),
        ],
        [td("customers affected"), td(""), td(""), td(String(t.customersAffected))],
        [td("newly blocked"), td(""), td(""), td(String(t.customersNewlyBlocked))],
        // Only policies with wallets or spend caps have these rows: other reports stay as they were.
        ...(t.customersRanDry.base +
          t.customersRanDry.head +
          t.customersCapped.base +
          t.customersCapped.head >
        0
          ? [
              [
                td("wallets run dry (customers)"),
                td(String(t.customersRanDry.base)),
                td(String(t.customersRanDry.head)),
                td(String(t.customersRanDry.head - t.customersRanDry.base)),
              ],
              [
                td("spend caps hit (customers)"),
                td(String(t.customersCapped.base)),
                td(String(t.customersCapped.head)),
                td(String(t.customersCapped.head - t.customersCapped.base)),
              ],
            ]
          : []),
      ],
    ),
  );
  for (const line of otherCurrencyLines(report)) parts.push(`<div class="meta">${esc(line)}</div>`);
  const skipped = notReplayedNote(report);
  if (skipped) parts.push(`<div class="meta">${esc(skipped)}</div>`);
  parts.push("<h2>Revenue by plan</h2>", planChart(report));
  parts.push(
    tableHtml(
      ["plan", "customers", "base", "head", "change", "%", "denied base", "denied head"],
      report.plans.map((p) => [
        td(`${p.name} (${p.plan})${planLabel(report, p) === p.plan ? "" : ` ${p.currency}`}`),
        td(
          p.baseCustomers === p.headCustomers
            ? String(p.headCustomers)
            : `${p.baseCustomers} → ${p.headCustomers}`,
        ),
        td(money(report, p.base.revenue, p.currency)),
        td(money(report, p.head.revenue, p.currency)),
        td(signedMoney(report, p.change, p.currency), cls(p.change)),
        td(signedPct(p.changePct), cls(p.change)),
        td(String(p.base.denied)),
        td(String(p.head.denied)),
      ]),
    ),
  );
  parts.push("<h2>Per-customer revenue change</h2>", changeHistogram(report));
  const header = ["customer", "plan", "base", "head", "change", "%", "denied base", "denied head"];
  if (report.moversUp.length > 0)
    parts.push(
      "<h2>Top movers up</h2>",
      tableHtml(
        header,
        report.moversUp.map((c) => customerCells(report, c)),
      ),
    );
  if (report.moversDown.length > 0)
    parts.push(
      "<h2>Top movers down</h2>",
      tableHtml(
        header,
        report.moversDown.map((c) => customerCells(report, c)),
      ),
    );
  if (report.newlyBlocked.length > 0) {
    parts.push(`<h2>Newly blocked (${report.newlyBlocked.length})</h2>`);
    parts.push(
      tableHtml(
        header,
        report.newlyBlocked.slice(0, HTML_CUSTOMERS).map((c) => customerCells(report, c)),
      ),
    );
  }
  for (const [title, rows, count] of [
    ["Wallets newly run dry", report.newlyRanDry, (c: CustomerRow) => c.head.ranDry],
    ["Spend caps newly hit", report.newlyCapped, (c: CustomerRow) => c.head.capped],
  ] as const) {
    if (rows.length === 0) continue;
    parts.push(
      `<h2>${esc(title)} (${rows.length})</h2>`,
      tableHtml(
        ["customer", "plan", "calls refused (head)"],
        rows
          .slice(0, HTML_CUSTOMERS)
          .map((c) => [td(c.customer), td(c.headPlan ?? "-"), td(String(count(c)))]),
      ),
    );
  }
  const changed = report.customers.filter((c) => !c.change.isZero() || c.base.denied !== c.head.denied);
  parts.push(`<h2>Customers affected (${changed.length})</h2>`);
  parts.push(
    tableHtml(
      header,
      changed.slice(0, HTML_CUSTOMERS).map((c) => customerCells(report, c)),
    ),
  );
  if (changed.length > HTML_CUSTOMERS)
    parts.push(`<p>… and ${changed.length - HTML_CUSTOMERS} more (--format json lists all).</p>`);
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>\n${parts.join("\n")}\n</body></html>\n`
  );
}
