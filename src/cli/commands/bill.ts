import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runBill } from "../../adapters/store/bill-run.js";
import { openDatabase } from "../../adapters/store/database.js";
import { hasEventsIn } from "../../adapters/store/usage-store.js";
import { UsageError } from "../../core/errors.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain } from "../render/view.js";
import { billCsv, billJson, billView, invoiceJson } from "./bill-render.js";
import { loadPolicy, periodOption } from "./usage-common.js";

/** `limitr bill --period P`: invoices from recorded usage; `--stripe` pushes them as drafts. */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const period = periodOption(options, policy.timezone, true);
  if (!period) throw new UsageError("--period P (or --from/--to) is required");
  if (options.finalize && !options.stripe) throw new UsageError("--finalize needs --stripe");
  const customer = options.customer as string | undefined;
  const dbFile = resolve(ctx.cwd, String(options.db));
  const db = openDatabase(dbFile);
  try {
    // An empty period is more often the wrong store or period than a quiet month.
    if (!hasEventsIn(db, period)) ctx.warn(`warning: store ${dbFile} has no events in ${period.label}`);
    const progress = ctx.progress({ label: "rating usage", unit: "days" });
    let bill: Awaited<ReturnType<typeof runBill>>;
    try {
      bill = await runBill(db, policy, period, {
        customers: customer ? [customer] : undefined,
        recordCredits: true,
        onProgress: (done, days) => progress.update(done, done, days),
      });
    } finally {
      await progress.finish();
    }
    if (customer && bill.invoices.length === 0) {
      ctx.warn(`note: ${customer} has no plan, subscription or usage in ${period.label}`);
    }
    if (options.out) {
      const dir = resolve(ctx.cwd, String(options.out));
      mkdirSync(dir, { recursive: true });
      for (const inv of bill.invoices) {
        writeFileSync(
          join(dir, `${inv.number}.json`),
          `${JSON.stringify(invoiceJson(inv, bill.currencyDigits), null, 2)}\n`,
        );
      }
      writeFileSync(join(dir, "lines.csv"), billCsv(bill));
      ctx.warn(`wrote ${bill.invoices.length} invoices and lines.csv to ${dir}`);
    }
    let stripeConflicts = 0;
    if (options.stripe) {
      const { pushToStripe } = await import("../../adapters/stripe/push-invoices.js");
      const { stripeFromEnv } = await import("../../adapters/stripe/client.js");
      const result = await pushToStripe(stripeFromEnv(ctx.env), db, policy, bill, {
        finalize: Boolean(options.finalize),
        warn: ctx.warn,
      });
      stripeConflicts = result.conflicts.length;
      ctx.warn(
        `stripe: ${result.invoices} draft invoice(s), ${result.items} item(s)${options.finalize ? `, ${result.finalized} finalized` : ""}` +
          `${result.skipped.length ? `; skipped (no Stripe customer id): ${result.skipped.join(", ")}` : ""}`,
      );
    }
    let exitCode = 0;
    if (stripeConflicts > 0) exitCode = 5;
    const format = options.format ?? "text";
    if (format === "json")
      return { output: JSON.stringify(billJson(bill, policy.timezone), null, 2), exitCode };
    if (format === "csv") return { output: billCsv(bill), exitCode };
    const view = billView(bill, policy.timezone);
    return { output: renderPlain(view), view, exitCode };
  } finally {
    db.close();
  }
}
