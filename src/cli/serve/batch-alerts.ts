import type { Limitr } from "limitr-engine";
import { DEFAULT_RETRY } from "limitr-engine/adapters/alerts/delivery";
import { openDatabase } from "limitr-engine/adapters/store/database";
import { SqliteUsageStore } from "limitr-engine/adapters/store/sqlite-usage-store";
import { calendarWindow } from "limitr-engine/core/periods";
import { isBatchRule } from "limitr-engine/runtime/live-alerts";
import { checkAlerts } from "../adapters/alerts/batch.js";
import type { CliContext } from "../context.js";

export interface BatchAlerts {
  /** Stop the schedule and wait for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Rules that read billing figures (spend, cost, margin, balance) need a
 * billing run over the month's recorded usage; the engine evaluates only the
 * live ones. `limitr serve` runs the others here every `everyMs`, on its own
 * connection to the SQLite store, after writing its buffered events so the
 * figures include them. Notifications go to the store's outbox; the engine's
 * delivery loop sends them. Rules the engine watches live are left out, so a
 * lagging billing view never resolves what a live counter triggered.
 */
export function scheduleBatchAlerts(
  engine: Limitr,
  dbPath: string | null,
  everyMs: number,
  ctx: Pick<CliContext, "env" | "warn">,
): BatchAlerts {
  if (dbPath === null || everyMs === 0) return { stop: async () => {} };
  let running: Promise<void> | null = null;
  let lastError: string | null = null;
  const runOnce = async () => {
    const { policy, version, digest } = engine.activePolicy();
    await engine.flush();
    const now = Date.now();
    const db = openDatabase(dbPath);
    try {
      await checkAlerts(new SqliteUsageStore(db), policy, {
        period: { ...calendarWindow("month", now, policy.timezone), label: "current month" },
        asOf: now,
        dryRun: false,
        deliver: false,
        rules: isBatchRule,
        env: ctx.env,
        retry: DEFAULT_RETRY,
        version,
        digest,
      });
      lastError = null;
    } finally {
      db.close();
    }
  };
  const timer = setInterval(() => {
    if (running !== null) return;
    running = runOnce()
      .catch((err: Error) => {
        // Said once per distinct failure: a store that stays unreachable must not flood the log.
        if (err.message !== lastError) ctx.warn(`limitr serve: billing alert rules: ${err.message}`);
        lastError = err.message;
      })
      .finally(() => {
        running = null;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
