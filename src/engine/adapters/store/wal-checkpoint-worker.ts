import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "./database.js";

/**
 * The checkpoints of `WalCheckpointer`, on this thread's own connection to the
 * store. Commits ask for one each; they are run at most every 50 ms, about as
 * often as the committing connection's own (every 1,000 pages) during an import.
 */
const EVERY_MS = 50;
const db = openDatabase((workerData as { path: string }).path);
let last = 0;
let timer: NodeJS.Timeout | null = null;

const checkpoint = () => {
  timer = null;
  last = performance.now();
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy: the frames stay in the WAL for the next checkpoint.
  }
};

parentPort?.on("message", (m: "checkpoint" | "stop") => {
  if (m === "stop") {
    if (timer) clearTimeout(timer);
    checkpoint();
    db.close();
    parentPort?.close();
    return;
  }
  if (timer) return;
  const wait = last + EVERY_MS - performance.now();
  if (wait <= 0) checkpoint();
  else timer = setTimeout(checkpoint, wait);
});
