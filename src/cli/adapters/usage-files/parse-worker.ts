import { parentPort, workerData } from "node:worker_threads";
import { transferables, WINDOW, wireBatches } from "./parsed-batches.js";

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
  for await (const batch of wireBatches(file, zone)) {
    while (credits === 0) await new Promise<void>((r) => (resume = r));
    credits--;
    parentPort?.postMessage(batch, transferables(batch));
  }
  parentPort?.postMessage(null);
} catch (err) {
  const e = err as Error;
  parentPort?.postMessage({ error: e.message, name: e.name });
}
parentPort?.close();
