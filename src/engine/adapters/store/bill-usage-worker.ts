import { parentPort, workerData } from "node:worker_threads";
import type { CompiledPolicy } from "../../core/model.js";
import type { Window } from "../../core/periods.js";
import { scanDays } from "./bill-usage.js";
import { openDatabase } from "./database.js";

/** One day range of a parallel usage scan (see `loadDailyUsageParallel`). */
const job = workerData as {
  path: string;
  policy: CompiledPolicy;
  period: Window;
  from: number;
  to: number;
  fullScan: boolean;
};
const db = openDatabase(job.path, { readonly: true });
try {
  parentPort?.postMessage(scanDays(db, job.policy, job.period, job.from, job.to, job.fullScan));
} finally {
  db.close();
}
