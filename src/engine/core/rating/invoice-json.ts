import { type Decimal, formatMoney } from "../money.js";
import { formatInstant } from "../periods.js";
import type { BilledInvoice, PricedBy } from "./bill.js";

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
  /** The policy versions that priced it (`limitr bill`), in time order. */
  priced_by?: PricedByJson[];
  /** An adjustment invoice: the number of the pushed invoice it adjusts. */
  adjusts?: string;
  /** Present when this is the content already pushed to Stripe (never changed afterwards). */
  pushed_at?: string;
  /** Events of the period recorded after the invoice was pushed (on an adjustment invoice). */
  late_events?: number;
}

export interface PricedByJson {
  /** Bundle version; 0 = an unpublished policy an engine ran; null = a policy directory given to `bill`. */
  version: number | null;
  digest: string | null;
  from: string;
  to: string;
}

export function pricedByJson(p: PricedBy[], zone: string): PricedByJson[] {
  return p.map((v) => ({
    version: v.version,
    digest: v.digest,
    from: formatInstant(v.start, zone),
    to: formatInstant(v.end, zone),
  }));
}

/**
 * One invoice as `limitr bill --format json` prints it (and the library's
 * `previewInvoice` returns): amounts in the invoice currency's minor units,
 * the cost in `costDigits` (the policy currency's).
 */
export function invoiceJson(inv: BilledInvoice, costDigits: number, zone = "UTC"): InvoiceJson {
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
    ...(inv.pricedBy ? { priced_by: pricedByJson(inv.pricedBy, zone) } : {}),
    ...(inv.adjusts !== undefined ? { adjusts: inv.adjusts } : {}),
    ...(inv.pushedAt !== undefined ? { pushed_at: new Date(inv.pushedAt).toISOString() } : {}),
    ...(inv.lateEvents !== undefined ? { late_events: inv.lateEvents } : {}),
  };
}
