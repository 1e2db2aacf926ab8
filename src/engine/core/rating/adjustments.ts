import { currencyDigits, type Decimal, dec, decStr, sum, ZERO } from "../money.js";
import type { BilledInvoice } from "./bill.js";
import type { InvoiceLine, LineKind } from "./invoice.js";
import { type InvoiceJson, invoiceJson } from "./invoice-json.js";

/**
 * Late usage after an invoice was pushed (SPEC §15). A pushed invoice is
 * never changed: when re-rating its period gives other lines (events arrived
 * late, with a timestamp inside the period), the difference becomes an
 * adjustment invoice `<number>-A<k>` for the same period, holding for each
 * line what was billed so far (the invoice and its earlier adjustments) and
 * what is due now. Pure: the pushed content comes in as stored text.
 */
export interface PushedContent {
  number: string;
  /** The invoice it adjusts; its own number for the original. */
  adjusts: string;
  pushedAt: number;
  /** `storedInvoice` text. */
  invoice: string;
}

interface Stored {
  invoice: InvoiceJson;
  /** `lineKey` of each line, in order. */
  keys: string[];
}

/** The identity of a line across runs: its kind and subject, not its figures. */
export function lineKey(
  line: Pick<InvoiceLine, "kind" | "entitlement" | "meter" | "description" | "group">,
): string {
  return [line.kind, line.entitlement ?? "", line.meter ?? "", line.group ?? line.description].join("\u0000");
}

/** What the store keeps of a pushed invoice: its JSON and the key of each line. */
export function storedInvoice(inv: BilledInvoice, digits: number, zone: string): string {
  const { priced_by: _p, pushed_at: _a, ...invoice } = invoiceJson(inv, digits, zone);
  const stored: Stored = { invoice, keys: inv.lines.map(lineKey) };
  return JSON.stringify(stored);
}

/** A pushed invoice as it was pushed (same lines, same amounts: the same Stripe content hash). */
export function pushedInvoice(p: PushedContent): BilledInvoice & { keys: string[] } {
  const { invoice: j, keys } = JSON.parse(p.invoice) as Stored;
  return {
    number: j.number,
    customer: j.customer,
    plan: j.plan,
    currency: j.currency,
    currencyDigits: currencyDigits(j.currency),
    lines: j.lines.map((l) => ({
      kind: l.kind as LineKind,
      description: l.description,
      entitlement: l.entitlement,
      meter: l.meter,
      quantity: l.quantity,
      unitPrice: l.unit_price,
      amount: dec(l.amount),
      cost: ZERO,
    })),
    subtotal: dec(j.subtotal),
    discount: dec(j.discount),
    creditsApplied: dec(j.credits_applied),
    total: dec(j.total),
    cost: dec(j.cost),
    marginPercent: j.margin_percent === null ? null : dec(j.margin_percent),
    creditUses: [],
    pushedAt: p.pushedAt,
    ...(j.adjusts !== undefined ? { adjusts: j.adjusts } : {}),
    ...(j.late_events !== undefined ? { lateEvents: j.late_events } : {}),
    keys,
  };
}

/**
 * What a period's bill shows for one pushed invoice: the pushed invoice and
 * its pushed adjustments as they are, then, when `rerated` (the period rated
 * now; undefined when the customer has nothing left to bill) differs from
 * their sum, a new adjustment invoice with the difference per line.
 */
export function withAdjustment(
  rerated: BilledInvoice | undefined,
  pushed: PushedContent[],
  lateEvents: number,
): BilledInvoice[] {
  const pieces = pushed.map(pushedInvoice);
  const original = pieces.find((p) => p.adjusts === undefined) ?? pieces[0];
  if (!original) return rerated ? [rerated] : [];
  const billed = new Map<string, { amount: Decimal; quantity: Decimal | null; line: InvoiceLine }>();
  for (const piece of pieces)
    piece.lines.forEach((line, i) => {
      const key = piece.keys[i] ?? lineKey(line);
      const was = billed.get(key);
      billed.set(key, {
        amount: (was?.amount ?? ZERO).plus(line.amount),
        quantity: addQuantity(was ? was.quantity : ZERO, line.quantity),
        line: was?.line ?? line,
      });
    });
  const now = new Map<string, { amount: Decimal; quantity: Decimal | null; line: InvoiceLine }>();
  for (const line of rerated?.lines ?? []) {
    const key = lineKey(line);
    const was = now.get(key);
    now.set(key, {
      amount: (was?.amount ?? ZERO).plus(line.amount),
      quantity: addQuantity(was ? was.quantity : ZERO, line.quantity),
      line: was?.line ?? line,
    });
  }
  const lines: InvoiceLine[] = [];
  for (const key of [...now.keys(), ...[...billed.keys()].filter((k) => !now.has(k))]) {
    const a = now.get(key);
    const b = billed.get(key);
    const amount = (a?.amount ?? ZERO).minus(b?.amount ?? ZERO);
    const quantity =
      a?.quantity === null || b?.quantity === null ? null : (a?.quantity ?? ZERO).minus(b?.quantity ?? ZERO);
    if (amount.isZero() && (quantity === null || quantity.isZero())) continue;
    const line = (a?.line ?? b?.line) as InvoiceLine;
    const was = b ? `, billed ${b.amount.toFixed()}` : "";
    lines.push({
      kind: line.kind,
      description: `Adjustment: ${a ? a.line.description : `${line.description} (no longer due)`}${was}`,
      entitlement: line.entitlement,
      meter: line.meter,
      quantity: quantity === null ? null : decStr(quantity),
      unitPrice: null,
      amount,
      cost: ZERO,
      // The adjusted line's identity, so the next run counts this amount as billed for that line.
      group: key.split("\u0000")[3] ?? line.description,
    });
  }
  if (lines.length === 0) return pieces.map(strip);
  const adjustments = pieces.filter((p) => p.adjusts !== undefined).length;
  const discount = sum(lines.filter((l) => l.kind === "discount").map((l) => l.amount)).negated();
  const creditsApplied = sum(lines.filter((l) => l.kind === "credit").map((l) => l.amount)).negated();
  const total = sum(lines.map((l) => l.amount));
  const subtotal = total.plus(discount).plus(creditsApplied);
  const cost = (rerated?.cost ?? ZERO).minus(sum(pieces.map((p) => p.cost)));
  const revenue = subtotal.minus(discount);
  const adjustment: BilledInvoice = {
    number: `${original.number}-A${adjustments + 1}`,
    customer: original.customer,
    plan: rerated?.plan ?? original.plan,
    currency: original.currency,
    currencyDigits: original.currencyDigits,
    lines,
    subtotal,
    discount,
    creditsApplied,
    total,
    cost,
    // No margin where the original had revenue but none (an invoice in another currency than the costs).
    marginPercent:
      revenue.gt(0) && !(original.marginPercent === null && original.subtotal.gt(original.discount))
        ? revenue.minus(cost).div(revenue).times(100).toDecimalPlaces(2)
        : null,
    creditUses: [],
    adjusts: original.number,
    lateEvents,
  };
  return [...pieces.map(strip), adjustment];
}

function strip(p: BilledInvoice & { keys: string[] }): BilledInvoice {
  const { keys: _keys, ...invoice } = p;
  return invoice;
}

function addQuantity(total: Decimal | null, q: string | null): Decimal | null {
  if (total === null || q === null) return null;
  return total.plus(dec(q));
}
