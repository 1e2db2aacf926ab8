import { createHash } from "node:crypto";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { toMinorUnits } from "limitr-engine/core/money";
import type { Bill, BilledInvoice } from "limitr-engine/core/rating/bill";
import type { StripePushState, UsageStore } from "limitr-engine/core/usage/store-port";
import { type InvoiceProgress, pushFailure } from "./push-errors.js";
import type { StripeApi } from "./stripe-api.js";

/**
 * `bill --stripe`: one draft invoice per customer with one invoice item per
 * non-zero line, in the invoice's currency and its minor units.
 *
 * Never double-bills:
 * - every request carries an idempotency key derived from the invoice number,
 *   a hash of its content and the step (`invoice`, `item:<line>`, `finalize`),
 *   so a retried request replays Stripe's first answer;
 * - progress is recorded in the store after every successful request, so a
 *   re-run after a failure resumes where it stopped;
 * - before creating what the store has no record of, the push looks it up in
 *   Stripe by limitr's metadata (`limitr_invoice`, `limitr_line`): a request
 *   that reached Stripe but whose answer was lost is found by the next run,
 *   also after Stripe's 24-hour idempotency window;
 * - an invoice whose content changed after it was pushed is not pushed again:
 *   it is reported as a conflict (exit 5), to be resolved in Stripe by hand.
 */
export interface PushOptions {
  finalize: boolean;
  warn: (line: string) => void;
  /** Where the requests go, for error messages. */
  endpoint: string;
  /** Record nothing in the store (`--dry-run`). */
  dryRun?: boolean;
  /** Keep the content of an invoice Stripe holds (called once its draft exists; again on later runs, a no-op). */
  record?: (inv: BilledInvoice) => Promise<void>;
}

export interface PushResult {
  invoices: number;
  items: number;
  finalized: number;
  /** Invoices and items that an earlier run had created in Stripe, found by metadata. */
  found: number;
  /** Customers without a Stripe customer id. */
  skipped: string[];
  /** Invoice numbers pushed earlier with different content. */
  conflicts: string[];
}

type PushState = StripePushState;

export function contentHash(inv: BilledInvoice, currency: string): string {
  const canonical = JSON.stringify({
    currency,
    customer: inv.customer,
    lines: inv.lines.map((l) => [l.kind, l.description, l.amount.toFixed()]),
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export async function pushToStripe(
  api: StripeApi,
  db: UsageStore,
  policy: CompiledPolicy,
  bill: Bill,
  options: PushOptions,
): Promise<PushResult> {
  const mapped = await db.stripeCustomers();
  const result: PushResult = { invoices: 0, items: 0, finalized: 0, found: 0, skipped: [], conflicts: [] };
  const progress: InvoiceProgress[] = [];
  let step = "starting";
  try {
    for (const inv of bill.invoices) {
      const lines = inv.lines.filter((l) => !l.amount.isZero());
      if (lines.length === 0) continue;
      const contractId = policy.customers[inv.customer]?.metadata.stripe_customer_id;
      const customer = typeof contractId === "string" ? contractId : mapped.get(inv.customer);
      if (!customer) {
        result.skipped.push(inv.customer);
        continue;
      }
      // Each invoice in its customer's currency, amounts in that currency's minor units (JPY 0, USD 2, KWD 3).
      const currency = inv.currency.toLowerCase();
      const hash = contentHash(inv, currency);
      const key = (s: string) => `limitr:${inv.number}:${hash}:${s}`;
      let state = await db.stripeInvoice(inv.number);
      const save = async (s: PushState) => {
        if (!options.dryRun) await db.saveStripeInvoice(inv.number, { ...s });
      };
      if (state && state.content_hash !== hash) {
        result.conflicts.push(inv.number);
        options.warn(
          `stripe: ${inv.number} was pushed as ${state.stripe_invoice} with different content; not pushed again (void the draft in Stripe first)`,
        );
        continue;
      }
      // Whether Stripe may hold objects the store has no record of (a lost answer, an earlier run).
      let uncertain = state !== undefined;
      if (!state) {
        step = `looking up ${inv.number} for customer ${customer}`;
        const found = await api.findInvoice(customer, inv.number);
        if (found && found.contentHash !== null && found.contentHash !== hash) {
          result.conflicts.push(inv.number);
          options.warn(
            `stripe: ${inv.number} exists in Stripe as ${found.id} with different content; not pushed again (void the draft in Stripe first)`,
          );
          continue;
        }
        if (found) {
          state = { content_hash: hash, stripe_invoice: found.id, items_done: 0, finalized: 0 };
          if (found.status !== "draft") state.finalized = 1;
          uncertain = true;
          result.found++;
        } else {
          step = `creating the draft invoice of ${inv.number} (customer ${customer})`;
          const id = await api.createInvoice(
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
            key("invoice"),
          );
          state = { content_hash: hash, stripe_invoice: id, items_done: 0, finalized: 0 };
          result.invoices++;
        }
        await save(state);
      }
      if (!options.dryRun) await options.record?.(inv);
      const current = state;
      const done: InvoiceProgress = {
        number: inv.number,
        stripeInvoice: current.stripe_invoice,
        items: current.items_done,
        lines: lines.length,
        finalized: current.finalized === 1,
      };
      progress.push(done);
      if (current.items_done < lines.length) {
        step = `looking up the items of ${inv.number} (${current.stripe_invoice})`;
        const existing = uncertain ? await api.itemLines(current.stripe_invoice) : new Set<string>();
        for (let i = current.items_done; i < lines.length; i++) {
          const line = lines[i];
          if (!line) continue;
          if (existing.has(String(i))) {
            result.found++;
          } else {
            step = `creating item ${i + 1} of ${lines.length} of ${inv.number} (${current.stripe_invoice})`;
            await api.createItem(
              {
                customer,
                invoice: current.stripe_invoice,
                currency,
                amount: toMinorUnits(line.amount, inv.currencyDigits),
                description: line.description.slice(0, 500),
                metadata: { limitr_invoice: inv.number, limitr_line: String(i), kind: line.kind },
              },
              key(`item:${i}`),
            );
            result.items++;
          }
          current.items_done = i + 1;
          done.items = i + 1;
          await save(current);
        }
      }
      if (options.finalize && !current.finalized) {
        step = `finalizing ${inv.number} (${current.stripe_invoice})`;
        const status = uncertain ? await api.invoiceStatus(current.stripe_invoice) : "draft";
        if (status === "draft") {
          await api.finalize(current.stripe_invoice, key("finalize"));
          result.finalized++;
        }
        current.finalized = 1;
        done.finalized = true;
        await save(current);
      }
    }
  } catch (err) {
    throw pushFailure(err, options.endpoint, step, progress);
  }
  return result;
}
