import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "limitr-engine/adapters/store/database";
import { SqliteUsageStore } from "limitr-engine/adapters/store/sqlite-usage-store";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Window } from "limitr-engine/core/periods";
import { replayPeriod } from "./replay.js";

/** The replay of `replayInWorker`, on its own read connection; progress and the result go back as messages. */
const job = workerData as {
  path: string;
  policies: CompiledPolicy[];
  period: Window;
  progress: boolean;
  skip: Set<string>;
};
const db = openDatabase(job.path, { readonly: true });
try {
  const outcomes = await replayPeriod(new SqliteUsageStore(db), job.policies, job.period, {
    skip: job.skip,
    onProgress: job.progress
      ? (done, total) => parentPort?.postMessage({ progress: [done, total] })
      : undefined,
  });
  parentPort?.postMessage({ outcomes });
} finally {
  db.close();
}
