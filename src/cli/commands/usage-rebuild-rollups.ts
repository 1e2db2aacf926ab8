import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { UsageError } from "limitr-engine/core/errors";
import type { CliContext, CommandOutcome } from "../context.js";
import { loadPolicy } from "./usage-common.js";

/**
 * `usage rebuild-rollups`: drop every usage rollup of the store and build
 * those of the policy's meters again from all recorded events (after a
 * manual edit of the events table, or to reclaim rollups of meters no
 * policy uses any more). Bills build missing rollups by themselves; this is
 * never needed for correctness of new events.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const store = await openUsageStore(String(options.db), { cwd: ctx.cwd });
  const started = performance.now();
  const progress = ctx.progress({ label: "rolling up", unit: "events" });
  try {
    if (!store.rebuildRollups) throw new UsageError(`store ${store.name} keeps no usage rollups`);
    const r = await store.rebuildRollups(policy, (done, total) => progress.update(done, done, total));
    const seconds = (performance.now() - started) / 1000;
    if (String(options.format ?? "text") === "json")
      return {
        output: JSON.stringify({
          formatVersion: 1,
          store: store.name,
          ...r,
          seconds: Number(seconds.toFixed(3)),
        }),
        exitCode: 0,
      };
    return {
      output:
        `rebuilt ${r.rollups} rollup(s) for ${r.meters} meter(s) of ${policy.name} ` +
        `from ${r.events} event(s) in ${seconds.toFixed(1)}s`,
      exitCode: 0,
    };
  } finally {
    await progress.finish();
    await store.close();
  }
}
