import { currencyDigits, type Decimal, formatMoney } from "limitr-engine/core/money";
import { formatInstant } from "limitr-engine/core/periods";
import type { Bill, BillTotals, PricedBy } from "limitr-engine/core/rating/bill";
import { invoiceJson, pricedByJson } from "limitr-engine/core/rating/invoice-json";
import { type Column, text, type View } from "../render/view.js";

/** One currency's totals as JSON: amounts in its minor units, the cost in the policy currency's. */
function totalsJson(t: BillTotals, digits: number, costDigits: number) {
  const m = (d: Decimal) => formatMoney(d, digits);
  return {
    invoices: t.invoices,
    subtotal: m(t.subtotal),
    discount: m(t.discount),
    credits_applied: m(t.creditsApplied),
    total: m(t.total),
    cost: formatMoney(t.cost, costDigits),
    margin_percent: t.marginPercent === null ? null : t.marginPercent.toFixed(2),
  };
}

export function billJson(bill: Bill, zone: string) {
  const byCurrency: Record<string, ReturnType<typeof totalsJson>> = {};
  for (const [code, t] of Object.entries(bill.totalsByCurrency))
    byCurrency[code] = totalsJson(t, currencyDigits(code), bill.currencyDigits);
  return {
    formatVersion: 1,
    period: { start: formatInstant(bill.period.start, zone), end: formatInstant(bill.period.end, zone) },
    currency: bill.currency,
    pricing: {
      source: bill.pricing.source,
      note: bill.pricing.note,
      versions: pricedByJson(bill.pricing.versions, zone),
    },
    invoices: bill.invoices.map((i) => invoiceJson(i, bill.currencyDigits, zone)),
    totals: totalsJson(bill.totals, bill.currencyDigits, bill.currencyDigits),
    totals_by_currency: byCurrency,
  };
}

const CSV_HEADER =
  "invoice,customer,plan,kind,description,entitlement,meter,quantity,unit_price,amount,cost,currency";

function csvCell(v: string | null): string {
  if (v === null) return "";
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** Every line of every invoice, one CSV row each (with the line's provider cost). */
export function billCsv(bill: Bill): string {
  const rows = [CSV_HEADER];
  for (const inv of bill.invoices) {
    for (const l of inv.lines) {
      rows.push(
        [
          inv.number,
          inv.customer,
          inv.plan,
          l.kind,
          l.description,
          l.entitlement,
          l.meter,
          l.quantity,
          l.unitPrice,
          formatMoney(l.amount, inv.currencyDigits),
          formatMoney(l.cost, bill.currencyDigits),
          inv.currency,
        ]
          .map(csvCell)
          .join(","),
      );
    }
  }
  return `${rows.join("\n")}\n`;
}

/**
 * Each invoice's lines (in its own currency), then one row per invoice and a
 * total row per currency: amounts in different currencies are never summed.
 */
export function billView(bill: Bill, zone: string): View {
  const margin = (p: Decimal | null) => (p === null ? "-" : `${p.toFixed(2)}%`);
  const cost = (x: Decimal) => formatMoney(x, bill.currencyDigits);
  const out: View = [];
  const from = formatInstant(bill.period.start, zone).slice(0, 10);
  const to = formatInstant(bill.period.end - 1, zone).slice(0, 10);
  const col = (header: string, right = false): Column => (right ? { header, align: "right" } : { header });
  for (const inv of bill.invoices) {
    const m = (x: Decimal) => formatMoney(x, inv.currencyDigits);
    out.push(
      text(
        `Invoice ${inv.number}  ${inv.customer}  plan ${inv.plan ?? "-"}  ${from} to ${to}  ${inv.currency}`,
      ),
    );
    if (inv.adjusts !== undefined)
      out.push(
        text(
          `adjusts ${inv.adjusts} (pushed to Stripe, unchanged): ${inv.lateEvents ?? 0} event(s) of the period recorded after it was pushed`,
          2,
        ),
      );
    if (inv.pushedAt !== undefined)
      out.push(text(`pushed to Stripe ${new Date(inv.pushedAt).toISOString()}: shown as pushed`, 2));
    if (inv.pricedBy) out.push(text(`priced by ${pricedByText(inv.pricedBy, zone)}`, 2));
    out.push({
      kind: "table",
      indent: 2,
      columns: [col("KIND"), col("DESCRIPTION"), col("QUANTITY", true), col("AMOUNT", true)],
      rows: inv.lines.map((l) => [l.kind, l.description, l.quantity ?? "", m(l.amount)]),
    });
    const costNote = inv.currency === bill.currency ? "" : ` ${bill.currency}`;
    out.push(
      text(
        `subtotal ${m(inv.subtotal)}  discount ${m(inv.discount)}  credits ${m(inv.creditsApplied)}  total ${m(inv.total)}` +
          `  cost ${cost(inv.cost)}${costNote}  margin ${margin(inv.marginPercent)}`,
        2,
      ),
    );
    out.push(text(""));
  }
  const inUse = Object.entries(bill.totalsByCurrency).filter(([, t]) => t.invoices > 0);
  const totals = inUse.length > 0 ? inUse : [[bill.currency, bill.totals] as const];
  // A currency column once any invoice is in another currency than the policy's.
  const mixed = totals.length > 1 || totals[0]?.[0] !== bill.currency;
  const rows = bill.invoices.map((inv) => {
    const m = (x: Decimal) => formatMoney(x, inv.currencyDigits);
    return [
      inv.number,
      inv.customer,
      inv.plan ?? "-",
      ...(mixed ? [inv.currency] : []),
      m(inv.subtotal),
      m(inv.discount),
      m(inv.creditsApplied),
      m(inv.total),
      cost(inv.cost),
      margin(inv.marginPercent),
    ];
  });
  for (const [code, t] of totals) {
    const m = (x: Decimal) => formatMoney(x, currencyDigits(code));
    rows.push([
      "TOTAL",
      `${t.invoices} invoices`,
      "",
      ...(mixed ? [code] : []),
      m(t.subtotal),
      m(t.discount),
      m(t.creditsApplied),
      m(t.total),
      cost(t.cost),
      margin(t.marginPercent),
    ]);
  }
  const money = ["SUBTOTAL", "DISCOUNT", "CREDITS", "TOTAL", "COST", "MARGIN"];
  out.push({
    kind: "table",
    columns: [
      col("INVOICE"),
      col("CUSTOMER"),
      col("PLAN"),
      ...(mixed ? [col("CURRENCY")] : []),
      ...money.map((h) => col(h, true)),
    ],
    rows,
    totalRow: true,
  });
  return out;
}

/** `policy v1 (sha256:0a1b2c3d4e5f) 2026-10-01 00:00 to 2026-10-15 14:30, policy v2 (...) ...`. */
export function pricedByText(versions: PricedBy[], zone: string): string {
  const short = (d: string | null) => (d ? d.slice(0, 19) : "?");
  const at = (ms: number) => formatInstant(ms, zone).slice(0, 16).replace("T", " ");
  if (versions.length === 1 && versions[0]?.version === null)
    return `the policy directory (${short(versions[0].digest)})`;
  return versions
    .map((v) => {
      const name =
        v.version === null
          ? "policy directory"
          : v.version === 0
            ? "unpublished policy"
            : `policy v${v.version}`;
      return `${name} (${short(v.digest)}) ${at(v.start)} to ${at(v.end)}`;
    })
    .join(", ");
}
