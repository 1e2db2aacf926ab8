import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { UsageError } from "limitr-engine/core/errors";
import type { CliContext, CommandOutcome } from "../context.js";
import { loadPolicy } from "./usage-common.js";

/**
 * `usage rebuild-rollups`: build the daily rollups of the policy's meters
 * again from the stored events and drop every other rollup. Needed only
 * after events were deleted, archived or restored outside limitr (imports
 * and the engine keep rollups up to date themselves).
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const db = await openUsageStore(String(options.db), { cwd: ctx.cwd });
  const started = performance.now();
  let built: number;
  try {
    if (!db.rebuildRollups) throw new UsageError(`store ${db.name} keeps no rollups (a ${db.kind} store)`);
    built = await db.rebuildRollups(policy);
  } finally {
    await db.close();
  }
  const seconds = Number(((performance.now() - started) / 1000).toFixed(3));
  if (String(options.format ?? "text") === "json")
    return {
      output: JSON.stringify({ formatVersion: 1, store: db.name, rollups: built, seconds }),
      exitCode: 0,
    };
  return { output: `rebuilt ${built} rollup(s) of ${db.name} from its events in ${seconds}s`, exitCode: 0 };
}
