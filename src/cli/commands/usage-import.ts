import { statSync } from "node:fs";
import { resolve } from "node:path";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { InputError, UsageError } from "limitr-engine/core/errors";
import { type ImportSummary, importFiles } from "../adapters/usage-files/import-events.js";
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
  const db = await openUsageStore(String(options.db), { create: true, cwd: ctx.cwd });
  let reported = 0;
  const started = performance.now();
  let summary: ImportSummary;
  const progress = ctx.progress({ label: "importing", unit: "rows", total: totalSize(files) });
  try {
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
  } finally {
    await progress.finish();
    await db.close();
  }
  if (reported > MAX_REPORTED) ctx.warn(`... and ${reported - MAX_REPORTED} more problems`);
  const seconds = (performance.now() - started) / 1000;
  if (summary.refused) {
    throw new InputError(`--strict: ${summary.skipped} bad row(s); nothing was imported`);
  }
  const output =
    options.format === "json"
      ? JSON.stringify({
          formatVersion: 1,
          ...summary,
          refused: undefined,
          seconds: Number(seconds.toFixed(3)),
        })
      : [
          ...summary.files.map(
            (f) =>
              `${f.file}: ${f.rows} rows, ${f.imported} imported, ${f.duplicates} duplicates, ${f.skipped} skipped`,
          ),
          `imported ${summary.imported} events (${summary.duplicates} duplicates, ${summary.skipped} bad rows skipped) in ${seconds.toFixed(1)}s`,
        ].join("\n");
  return { output, exitCode: 0 };
}
