import { createHash } from "node:crypto";
import type Stripe from "stripe";
import type { CompiledPolicy } from "../../core/model.js";
import { toMinorUnits } from "../../core/money.js";
import type { Bill, BilledInvoice } from "../../core/rating/bill.js";
import type { Db } from "../store/database.js";
import { stripeCustomers } from "../store/usage-store.js";

/**
 * `bill --stripe`: one draft invoice per customer with one invoice item per
 * non-zero line, amounts in minor units.
 *
 * Never double-bills:
 * - every request carries an idempotency key derived from the invoice number,
 *   a hash of its content and the step (`invoice`, `item:<line>`, `finalize`),
 *   so a retried request replays Stripe's first answer;
 * - progress is recorded in the store after every successful request, so a
 *   re-run after a failure resumes where it stopped (also after Stripe's key
 *   retention window has passed);
 * - an invoice whose content changed after it was pushed is not pushed again:
 *   it is reported as a conflict (exit 5), to be resolved in Stripe by hand.
 */
export interface PushOptions {
  finalize: boolean;
  warn: (line: string) => void;
}

export interface PushResult {
  invoices: number;
  items: number;
  finalized: number;
  /** Customers without a Stripe customer id. */
  skipped: string[];
  /** Invoice numbers pushed earlier with different content. */
  conflicts: string[];
}

interface PushState {
  content_hash: string;
  stripe_invoice: string;
  items_done: number;
  finalized: number;
}

export function contentHash(inv: BilledInvoice, currency: string): string {
  const canonical = JSON.stringify({
    currency,
    customer: inv.customer,
    lines: inv.lines.map((l) => [l.kind, l.description, l.amount.toFixed()]),
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export async function pushToStripe(
  stripe: Stripe,
  db: Db,
  policy: CompiledPolicy,
  bill: Bill,
  options: PushOptions,
): Promise<PushResult> {
  const mapped = stripeCustomers(db);
  const result: PushResult = { invoices: 0, items: 0, finalized: 0, skipped: [], conflicts: [] };
  const getState = db.prepare(
    "SELECT content_hash, stripe_invoice, items_done, finalized FROM stripe_invoices WHERE number = ?",
  );
  const saveState = db.prepare(
    "INSERT OR REPLACE INTO stripe_invoices (number, content_hash, stripe_invoice, items_done, finalized) VALUES (?, ?, ?, ?, ?)",
  );
  const currency = bill.currency.toLowerCase();
  for (const inv of bill.invoices) {
    const lines = inv.lines.filter((l) => !l.amount.isZero());
    if (lines.length === 0) continue;
    const contractId = policy.customers[inv.customer]?.metadata.stripe_customer_id;
    const customer = typeof contractId === "string" ? contractId : mapped.get(inv.customer);
    if (!customer) {
      result.skipped.push(inv.customer);
      continue;
    }
    const hash = contentHash(inv, currency);
    const key = (step: string) => `limitr:${inv.number}:${hash}:${step}`;
    let state = getState.get(inv.number) as PushState | undefined;
    if (state && state.content_hash !== hash) {
      result.conflicts.push(inv.number);
      options.warn(
        `stripe: ${inv.number} was pushed as ${state.stripe_invoice} with different content; not pushed again (void the draft in Stripe first)`,
      );
      continue;
    }
    if (!state) {
      const created = await stripe.invoices.create(
        {
          customer,
          currency,
          auto_advance: false,
          collection_method: "send_invoice",
          days_until_due: 30,
          pending_invoice_items_behavior: "exclude",
          description: `${inv.number} (${bill.period.label})`,
          metadata: { limitr_invoice: inv.number, limitr_content_hash: hash },
        },
        { idempotencyKey: key("invoice") },
      );
      state = { content_hash: hash, stripe_invoice: created.id as string, items_done: 0, finalized: 0 };
      saveState.run(inv.number, hash, state.stripe_invoice, 0, 0);
      result.invoices++;
    }
    for (let i = state.items_done; i < lines.length; i++) {
      const line = lines[i];
      if (!line) continue;
      await stripe.invoiceItems.create(
        {
          customer,
          invoice: state.stripe_invoice,
          currency,
          amount: toMinorUnits(line.amount, bill.currencyDigits),
          description: line.description.slice(0, 500),
          metadata: { limitr_invoice: inv.number, limitr_line: String(i), kind: line.kind },
        },
        { idempotencyKey: key(`item:${i}`) },
      );
      state.items_done = i + 1;
      saveState.run(inv.number, hash, state.stripe_invoice, state.items_done, 0);
      result.items++;
    }
    if (options.finalize && !state.finalized) {
      await stripe.invoices.finalizeInvoice(state.stripe_invoice, {}, { idempotencyKey: key("finalize") });
      saveState.run(inv.number, hash, state.stripe_invoice, state.items_done, 1);
      result.finalized++;
    }
  }
  return result;
}
