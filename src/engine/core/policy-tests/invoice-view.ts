import { type Decimal, formatMoney, ZERO } from "../money.js";
import type { BilledInvoice } from "../rating/bill.js";
import { invoiceJson } from "../rating/invoice-json.js";
import { type Mismatch, matchFields } from "./match.js";
import type { InvoiceExpectation } from "./model.js";

/**
 * An invoice as a test sees it: the fields of `limitr bill --format json`,
 * with `lines` keyed by what a reader names. A usage line is found by its
 * entitlement; every kind (subscription, proration, usage, minimum,
 * discount, credit) also has the sum of its lines. A key with no line reads
 * as amount 0, so "nothing charged" and "no line" need not be told apart.
 */
export interface InvoiceView {
  number: string;
  plan: string | null;
  subtotal: string;
  discount: string;
  credits_applied: string;
  total: string;
  cost: string;
  margin_percent: string | null;
  lines: Record<string, { amount: string; quantity: string | null }>;
}

/** `digits`: the policy currency's, for the cost; amounts use the invoice currency's. */
export function invoiceView(inv: BilledInvoice, digits: number): InvoiceView {
  const m = (d: Decimal) => formatMoney(d, inv.currencyDigits);
  const sums = new Map<string, { amount: Decimal; quantity: Decimal | null }>();
  const add = (key: string, amount: Decimal, quantity: string | null) => {
    const prev = sums.get(key) ?? { amount: ZERO, quantity: null };
    const q = quantity === null ? prev.quantity : (prev.quantity ?? ZERO).plus(quantity);
    sums.set(key, { amount: prev.amount.plus(amount), quantity: q });
  };
  for (const l of inv.lines) {
    add(l.kind, l.amount, l.quantity);
    if (l.kind === "usage" && l.entitlement !== null) add(l.entitlement, l.amount, l.quantity);
  }
  const lines: InvoiceView["lines"] = {};
  for (const [k, v] of sums) lines[k] = { amount: m(v.amount), quantity: v.quantity?.toString() ?? null };
  const { customer: _customer, lines: _lines, ...head } = invoiceJson(inv, digits);
  return { ...head, lines };
}

/** Compare one customer's expected invoice with the bill; paths start with the customer id. */
export function matchInvoice(
  expectation: InvoiceExpectation,
  invoice: BilledInvoice | undefined,
  digits: number,
  zone: string,
): Mismatch[] {
  const { customer, line, fields } = expectation;
  if (fields === null) {
    return invoice
      ? [{ field: customer, line, expected: "no invoice", got: `invoice ${invoice.number}` }]
      : [];
  }
  if (!invoice) return [{ field: customer, line, expected: "an invoice", got: "no invoice" }];
  const view = invoiceView(invoice, digits);
  const out: Mismatch[] = [];
  for (const f of fields) {
    if (f.name !== "lines" || f.value.kind !== "map") {
      out.push(...matchFields([f], view as unknown as Record<string, unknown>, zone, customer));
      continue;
    }
    for (const l of f.value.fields) {
      const got = view.lines[l.name] ?? { amount: "0", quantity: null };
      const path = `${customer}.lines.${l.name}`;
      // A bare value is the line's amount; a map may also pin its quantity.
      const expected = l.value.kind === "map" ? l.value.fields : [{ ...l, name: "amount" }];
      const found = matchFields(expected, got, zone, path);
      out.push(...found.map((x) => (l.value.kind === "map" ? x : { ...x, field: path })));
    }
  }
  return out;
}
