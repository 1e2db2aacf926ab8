import { statSync } from "node:fs";
import { resolve } from "node:path";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { InputError, UsageError } from "limitr-engine/core/errors";
import { formatInstant } from "limitr-engine/core/periods";
import type { LateEvents } from "limitr-engine/core/usage/store-port";
import { checkImportFiles, type ImportSummary, importFiles } from "../adapters/usage-files/import-events.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { importPolicy } from "./usage-common.js";

/** Problems printed before the rest are only counted (a bad 10M-row file must not flood the terminal). */
const MAX_REPORTED = 50;

/** Bytes on disk of the files (progress is bytes read of this); unreadable files are reported by the import. */
function totalSize(files: string[]): number | undefined {
  try {
    return files.reduce((sum, f) => sum + statSync(f).size, 0);
  } catch {
    return undefined;
  }
}

export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const files = ((options.args as unknown[])[0] as string[]).map((f) => resolve(ctx.cwd, f));
  const batchSize = Number(options.batchSize ?? 5000);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UsageError("--batch-size must be a positive integer");
  const policy = importPolicy(options, ctx);
  const zone = policy?.timezone ?? "UTC";
  // A file that cannot be imported fails the command before a store is created for it.
  checkImportFiles(files);
  const db = await openUsageStore(String(options.db), { create: true, cwd: ctx.cwd });
  let reported = 0;
  const started = performance.now();
  let summary: ImportSummary;
  let late: LateEvents[] = [];
  const progress = ctx.progress({ label: "importing", unit: "rows", total: totalSize(files) });
  try {
    const before = await db.maxEventSeq();
    if (policy) await db.extractFor?.(policy);
    summary = await importFiles(db, files, {
      zone,
      strict: Boolean(options.strict),
      batchSize,
      onProblem: (file, line, reason) => {
        if (++reported <= MAX_REPORTED) ctx.warn(`${file}:${line}: ${reason}`);
      },
      onProgress: (rows, bytes) => progress.update(rows, bytes),
    });
    // Events whose period was already billed and pushed to Stripe: imported, and billed as an adjustment.
    if (!summary.refused && summary.imported > 0) late = await db.lateEvents(before);
  } finally {
    await progress.finish();
    await db.close();
  }
  if (reported > MAX_REPORTED) ctx.warn(`... and ${reported - MAX_REPORTED} more problems`);
  const seconds = (performance.now() - started) / 1000;
  if (summary.refused) {
    throw new InputError(`--strict: ${summary.skipped} bad row(s); nothing was imported`);
  }
  const periods = latePeriods(late, zone);
  const lateTotal = periods.reduce((n, p) => n + p.events, 0);
  if (lateTotal > 0)
    ctx.warn(
      `note: ${lateTotal} event(s) fall in periods already billed and pushed to Stripe (${periods.map((p) => `${p.start.slice(0, 10)} to ${p.end.slice(0, 10)}: ${p.events}`).join(", ")}); \`limitr bill\` for those periods shows them as adjustment invoices`,
    );
  const output =
    options.format === "json"
      ? JSON.stringify({
          formatVersion: 1,
          ...summary,
          refused: undefined,
          seconds: Number(seconds.toFixed(3)),
          late_events: { total: lateTotal, periods },
        })
      : [
          ...summary.files.map(
            (f) =>
              `${f.file}: ${f.rows} rows, ${f.imported} imported, ${f.duplicates} duplicates, ${f.skipped} skipped`,
          ),
          `imported ${summary.imported} events (${summary.duplicates} duplicates, ${summary.skipped} bad rows skipped) in ${seconds.toFixed(1)}s`,
          ...(lateTotal > 0
            ? [`late: ${lateTotal} event(s) in periods already billed and pushed to Stripe`]
            : []),
        ].join("\n");
  return { output, exitCode: 0 };
}

/** Late events per pushed period (summed over customers), periods as ISO times in the policy timezone. */
function latePeriods(late: LateEvents[], zone: string): { start: string; end: string; events: number }[] {
  const byPeriod = new Map<string, { start: string; end: string; events: number }>();
  for (const l of late) {
    const key = `${l.periodStart}/${l.periodEnd}`;
    const row = byPeriod.get(key) ?? {
      start: formatInstant(l.periodStart, zone),
      end: formatInstant(l.periodEnd, zone),
      events: 0,
    };
    row.events += l.events;
    byPeriod.set(key, row);
  }
  return [...byPeriod.values()];
}
