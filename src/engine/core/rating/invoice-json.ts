import { type Decimal, formatMoney } from "../money.js";
import type { BilledInvoice } from "./bill.js";

/**
 * Bill output. JSON (formatVersion 1) carries every amount as a decimal
 * string in the currency's minor units; `discount` and `credits_applied` are
 * positive amounts, their lines negative.
 */
export interface InvoiceJson {
  number: string;
  customer: string;
  plan: string | null;
  /** ISO 4217 code of every amount but `cost` (the customer's currency). */
  currency: string;
  lines: {
    kind: string;
    description: string;
    entitlement: string | null;
    meter: string | null;
    quantity: string | null;
    unit_price: string | null;
    amount: string;
  }[];
  subtotal: string;
  discount: string;
  credits_applied: string;
  total: string;
  /** Provider cost, in the policy currency. */
  cost: string;
  margin_percent: string | null;
}

/**
 * One invoice as `limitr bill --format json` prints it (and the library's
 * `previewInvoice` returns): amounts in the invoice currency's minor units,
 * the cost in `costDigits` (the policy currency's).
 */
export function invoiceJson(inv: BilledInvoice, costDigits: number): InvoiceJson {
  const m = (d: Decimal) => formatMoney(d, inv.currencyDigits);
  return {
    number: inv.number,
    customer: inv.customer,
    plan: inv.plan,
    currency: inv.currency,
    lines: inv.lines.map((l) => ({
      kind: l.kind,
      description: l.description,
      entitlement: l.entitlement,
      meter: l.meter,
      quantity: l.quantity,
      unit_price: l.unitPrice,
      amount: m(l.amount),
    })),
    subtotal: m(inv.subtotal),
    discount: m(inv.discount),
    credits_applied: m(inv.creditsApplied),
    total: m(inv.total),
    cost: formatMoney(inv.cost, costDigits),
    margin_percent: inv.marginPercent === null ? null : inv.marginPercent.toFixed(2),
  };
}
