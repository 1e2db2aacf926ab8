import { parentPort, workerData } from "node:worker_threads";
import { parseBatch, toWire, WINDOW } from "./parsed-batches.js";
import { readRecords } from "./read-events.js";

/** Reads and validates one usage file for `parsedBatches`, at most WINDOW batches ahead. */
const { file, zone } = workerData as { file: string; zone: string };
let credits = WINDOW;
let resume: (() => void) | null = null;
parentPort?.on("message", () => {
  credits++;
  resume?.();
  resume = null;
});

try {
  for await (const records of readRecords(file)) {
    const batch = parseBatch(records, zone);
    while (credits === 0) await new Promise<void>((r) => (resume = r));
    credits--;
    const { wire, transfer } = toWire(batch);
    parentPort?.postMessage(wire, transfer);
  }
  parentPort?.postMessage(null);
} catch (err) {
  const e = err as Error;
  parentPort?.postMessage({ error: e.message, name: e.name });
}
parentPort?.close();
