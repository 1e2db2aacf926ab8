import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { openDatabase } from "limitr-engine/adapters/store/database";
import { SqliteUsageStore } from "limitr-engine/adapters/store/sqlite-usage-store";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Window } from "limitr-engine/core/periods";
import type { ReplayOutcome } from "limitr-engine/core/simulate/types";
import type { UsageStore } from "limitr-engine/core/usage/store-port";
import { PolicyReplay, type Props } from "./policy-replay.js";

export interface ReplayOptions {
  /** Called every `progressEvery` events (default 250,000) and once at the end. */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
  /** Entitlements to leave out of every policy's replay (see `unchangedEnforcement`). */
  skip?: ReadonlySet<string>;
}

/**
 * Replay the period's recorded events through an engine per policy, in one
 * streamed pass (both policies see each event as it is read). Events before
 * `period.start` that still count toward a longer period's limit (a quarter,
 * a year, lifetime) are replayed first to warm the counters, without being tallied.
 */
export async function replayPeriod(
  db: UsageStore,
  policies: CompiledPolicy[],
  period: Window,
  options: ReplayOptions = {},
): Promise<ReplayOutcome[]> {
  const subscriptions = await db.planHistory();
  const replays = policies.map((p) => new PolicyReplay(p, options.skip));
  try {
    const from = Math.min(...replays.map((r) => r.warmUpStart(period.start)));
    for (const r of replays) await r.open(subscriptions, from, period.end);
    const named = new Set([...subscriptions.keys(), ...policies.flatMap((p) => Object.keys(p.customers))]);
    const types = [...new Set(replays.flatMap((r) => r.types()))].sort();
    const skip = new Map<string, string[]>();
    for (const type of types) {
      const sets = replays.map((r) => r.untouched(type, named, from, period.end));
      skip.set(
        type,
        [...(sets[0] ?? [])].filter((c) => sets.every((s) => s.has(c))),
      );
    }
    const every = options.progressEvery ?? 250_000;
    const total = options.onProgress ? await db.countEvents(types, from, period.end, skip) : 0;
    let done = 0;
    for await (const batch of db.eventsInOrder(types, from, period.end, skip)) {
      for (const e of batch) {
        const props = e.properties === null ? null : (JSON.parse(e.properties) as Props);
        const tally = e.ts >= period.start;
        for (const r of replays) r.feed(e.type, e.customer, e.ts, e.value, props, tally);
        if (++done % every === 0) options.onProgress?.(done, total);
      }
    }
    options.onProgress?.(done, total);
    const metered = [...new Set(policies.flatMap((p) => Object.values(p.meters).flatMap((m) => m.events)))];
    const events = await db.countEvents(metered, period.start, period.end);
    const notReplayed = [...(options.skip ?? [])].sort();
    return replays.map((r) => ({
      events,
      customers: r.customers,
      unknownPlans: r.unknownPlans,
      notReplayed,
    }));
  } finally {
    for (const r of replays) await r.close().catch(() => {});
  }
}

/**
 * `replayPeriod` on a worker thread with its own read-only connection, so it
 * runs while the caller re-rates the period on the main thread. Falls back to
 * the calling thread for an in-memory store, when nothing can refuse (only
 * the event count is left to read), when the compiled worker is not there
 * (running from sources), and for the shared store (whose queries
 * already run beside the caller's on other connections).
 */
export async function replayInWorker(
  store: UsageStore,
  policies: CompiledPolicy[],
  period: Window,
  options: ReplayOptions = {},
): Promise<ReplayOutcome[]> {
  const workerFile = new URL("./replay-worker.js", import.meta.url);
  const db = store instanceof SqliteUsageStore ? store.db : null;
  if (!db || db.memory) return replayPeriod(store, policies, period, options);
  // Nothing can refuse (every limit left out, say for a price-only change): not worth a thread.
  const refusing = policies.some((p) => new PolicyReplay(p, options.skip).types().length > 0);
  if (!refusing || !existsSync(workerFile)) {
    // Replay here, on a connection of its own, since the caller rates bills on `store`
    // meanwhile and one SQLite connection serves one query at a time.
    const own = new SqliteUsageStore(openDatabase(db.name, { readonly: true }));
    try {
      return await replayPeriod(own, policies, period, options);
    } finally {
      await own.close();
    }
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, {
      workerData: {
        path: db.name,
        policies,
        period: { start: period.start, end: period.end },
        progress: Boolean(options.onProgress),
        skip: options.skip ?? new Set(),
      },
    });
    let result: ReplayOutcome[] | null = null;
    worker.on("message", (m: { progress?: [number, number]; outcomes?: ReplayOutcome[] }) => {
      if (m.progress) options.onProgress?.(m.progress[0], m.progress[1]);
      if (m.outcomes) result = m.outcomes;
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (result) resolve(result);
      else reject(new Error(`the replay worker exited with code ${code} before answering`));
    });
  });
}
