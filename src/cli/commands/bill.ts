import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type PeriodPricing, runBill } from "limitr-engine/adapters/store/bill-run";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { storedInvoice, withAdjustment } from "limitr-engine/core/rating/adjustments";
import { type Bill, type BilledInvoice, totalsOf } from "limitr-engine/core/rating/bill";
import { invoiceJson } from "limitr-engine/core/rating/invoice-json";
import type { PushedInvoice, UsageStore } from "limitr-engine/core/usage/store-port";
import type { PlannedRequest } from "../adapters/stripe/stripe-api.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain } from "../render/view.js";
import { periodPricing } from "../services/billing/period-pricing.js";
import { billCsv, billJson, billView } from "./bill-render.js";
import { loadPolicy, periodOption } from "./usage-common.js";

/** `limitr bill --period P`: invoices from recorded usage; `--stripe` pushes them as drafts. */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const workTree = loadPolicy(options, ctx);
  const period = periodOption(options, workTree.timezone, true);
  if (!period) throw new UsageError("--period P (or --from/--to) is required");
  if (options.finalize && !options.stripe) throw new UsageError("--finalize needs --stripe");
  if (options.dryRun && !options.stripe) throw new UsageError("--dry-run needs --stripe");
  const customer = options.customer as string | undefined;
  const db = await openUsageStore(String(options.db), { cwd: ctx.cwd });
  try {
    // An empty period is more often the wrong store or period than a quiet month.
    if (!(await db.hasEventsIn(period)))
      ctx.warn(`warning: store ${db.name} has no events in ${period.label}`);
    const pricing = await periodPricing(db, period, {
      workTree,
      policiesDir: String(options.policies ?? "./policies"),
      explicit: ((options.given as string[] | undefined) ?? []).includes("policies"),
      store: options.store as string | undefined,
      env: options.env as string | undefined,
      cwd: ctx.cwd,
    });
    if (pricing.note) ctx.warn(`note: ${pricing.note} (store ${db.name})`);
    const policy = (pricing.pieces[pricing.pieces.length - 1] as PeriodPricing).policy;
    // Events recorded after this are late for an invoice this run pushes (docs/billing.md, "Late events").
    const throughSeq = await db.maxEventSeq();
    const progress = ctx.progress({ label: "rating usage", unit: "days" });
    let bill: Awaited<ReturnType<typeof runBill>>;
    try {
      bill = await runBill(db, pricing.pieces, period, {
        customers: customer ? [customer] : undefined,
        recordCredits: !options.dryRun,
        onProgress: (done, days) => progress.update(done, done, days),
      });
    } finally {
      await progress.finish();
    }
    bill.pricing.source = pricing.source;
    bill.pricing.note = pricing.note;
    await showPushed(db, bill, customer);
    for (const inv of bill.invoices) inv.pricedBy = bill.pricing.versions;
    const late = bill.invoices.filter((i) => i.adjusts !== undefined && i.pushedAt === undefined);
    if (late.length > 0)
      ctx.warn(
        `note: ${late.length} invoice(s) of ${period.label} already pushed to Stripe changed since (late usage): adjustment invoice(s) ${late.map((i) => i.number).join(", ")}`,
      );
    if (customer && bill.invoices.length === 0) {
      ctx.warn(`note: ${customer} has no plan, subscription or usage in ${period.label}`);
    }
    if (options.out) {
      const dir = resolve(ctx.cwd, String(options.out));
      mkdirSync(dir, { recursive: true });
      for (const inv of bill.invoices) {
        writeFileSync(
          join(dir, `${inv.number}.json`),
          `${JSON.stringify(invoiceJson(inv, bill.currencyDigits, policy.timezone), null, 2)}\n`,
        );
      }
      writeFileSync(join(dir, "lines.csv"), billCsv(bill));
      ctx.warn(`wrote ${bill.invoices.length} invoices and lines.csv to ${dir}`);
    }
    let exitCode = 0;
    let error: unknown;
    let requests: PlannedRequest[] | null = null;
    if (options.stripe) {
      const record = async (inv: BilledInvoice) =>
        db.recordPushedInvoice({
          number: inv.number,
          adjusts: inv.adjusts ?? inv.number,
          customer: inv.customer,
          periodStart: period.start,
          periodEnd: period.end,
          throughSeq,
          invoice: storedInvoice(inv, bill.currencyDigits, policy.timezone),
          pushedAt: Date.now(),
        });
      const push = await pushInvoices(db, policy, bill, options, ctx, record);
      if (push.conflicts > 0) exitCode = 5;
      error = push.error;
      requests = push.requests;
    }
    const format = options.format ?? "text";
    if (requests) return { output: requestsOutput(requests, String(format)), exitCode, error };
    if (format === "json")
      return { output: JSON.stringify(billJson(bill, policy.timezone), null, 2), exitCode, error };
    if (format === "csv") return { output: billCsv(bill), exitCode, error };
    const view = billView(bill, policy.timezone);
    return { output: renderPlain(view), view, exitCode, error };
  } finally {
    await db.close();
  }
}

/**
 * `--stripe`: push the bill (or, with `--dry-run`, record the requests the
 * push would send). A failed push is returned, not thrown, so the invoices
 * computed before it are still printed.
 */
async function pushInvoices(
  db: UsageStore,
  policy: CompiledPolicy,
  bill: Bill,
  options: Record<string, unknown>,
  ctx: CliContext,
  record: (inv: BilledInvoice) => Promise<void>,
): Promise<{ conflicts: number; error?: unknown; requests: PlannedRequest[] | null }> {
  const { pushToStripe } = await import("../adapters/stripe/push-invoices.js");
  const { sdkApi, dryRunApi } = await import("../adapters/stripe/stripe-api.js");
  const { stripeEndpoint } = await import("../adapters/stripe/push-errors.js");
  const dryRun = Boolean(options.dryRun);
  const requests: PlannedRequest[] = [];
  let api = dryRunApi(requests);
  if (!dryRun) {
    const { stripeFromEnv } = await import("../adapters/stripe/client.js");
    api = sdkApi(stripeFromEnv(ctx.env));
  }
  try {
    const result = await pushToStripe(api, db, policy, bill, {
      finalize: Boolean(options.finalize),
      warn: ctx.warn,
      endpoint: stripeEndpoint(ctx.env),
      dryRun,
      record,
    });
    ctx.warn(
      `stripe${dryRun ? " (dry run, nothing sent)" : ""}: ${result.invoices} draft invoice(s), ${result.items} item(s)` +
        `${options.finalize ? `, ${result.finalized} finalized` : ""}` +
        `${result.found ? `; ${result.found} found from an earlier run` : ""}` +
        `${dryRun ? `; would send ${requests.length} request(s)` : ""}` +
        `${result.skipped.length ? `; skipped (no Stripe customer id): ${result.skipped.join(", ")}` : ""}`,
    );
    return { conflicts: result.conflicts.length, requests: dryRun ? requests : null };
  } catch (error) {
    return { conflicts: 0, error, requests: null };
  }
}

/**
 * Invoices of the period already pushed to Stripe are shown as pushed, never
 * re-rated in place; what changed since (late usage) follows each as an
 * adjustment invoice (`<number>-A<k>`), which `--stripe` pushes like any invoice.
 */
async function showPushed(db: UsageStore, bill: Bill, customer: string | undefined): Promise<void> {
  const pushed = await db.pushedInvoices(bill.period);
  if (pushed.length === 0) return;
  const late = new Map<string, number>();
  // Only events past the earliest push can be late: the scan starts there (the primary key), not at the first event.
  for (const l of await db.lateEvents(Math.min(...pushed.map((p) => p.throughSeq))))
    if (l.periodStart === bill.period.start && l.periodEnd === bill.period.end)
      late.set(l.customer, l.events);
  const byOriginal = new Map<string, PushedInvoice[]>();
  for (const p of pushed) {
    if (customer !== undefined && p.customer !== customer) continue;
    byOriginal.set(p.adjusts, [...(byOriginal.get(p.adjusts) ?? []), p]);
  }
  const out: BilledInvoice[] = [];
  for (const inv of bill.invoices) {
    const rows = byOriginal.get(inv.number);
    byOriginal.delete(inv.number);
    out.push(...(rows ? withAdjustment(inv, rows, late.get(inv.customer) ?? 0) : [inv]));
  }
  // A pushed invoice whose customer has nothing left to bill: reversed by its adjustment.
  for (const rows of byOriginal.values())
    out.push(...withAdjustment(undefined, rows, late.get(rows[0]?.customer ?? "") ?? 0));
  bill.invoices = out;
  bill.totals = totalsOf(out);
}

/** The requests of `bill --stripe --dry-run`, in the order they would be sent. */
function requestsOutput(requests: PlannedRequest[], format: string): string {
  if (format === "json") return JSON.stringify({ formatVersion: 1, dryRun: true, requests }, null, 2);
  if (requests.length === 0) return "no Stripe requests: everything is already pushed";
  return requests
    .map(
      (r) =>
        `${r.method} ${r.path}${r.idempotencyKey ? `\n  Idempotency-Key: ${r.idempotencyKey}` : ""}\n  ${JSON.stringify(r.params)}`,
    )
    .join("\n");
}
