import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { InputError } from "limitr-engine/core/errors";
import { parseEventRecord, type UsageEvent } from "limitr-engine/core/usage/event";
import { type RecordBatch, readRecords } from "./read-events.js";

/**
 * A usage file as batches of validated events and problems, in file order.
 * On a machine with more than one core the reading, decompressing and
 * validating runs in a worker thread, so it overlaps the SQLite writes of the
 * importing thread; a small window of in-flight batches bounds memory.
 */
export interface ParsedBatch {
  rows: number;
  /** Bytes of the file read once this batch was (progress: of the file's size). */
  bytes: number;
  events: UsageEvent[];
  problems: { line: number; reason: string }[];
}

/**
 * A batch as it crosses threads: columns instead of objects, because
 * structured cloning thousands of small objects costs more than parsing them.
 */
interface WireBatch {
  rows: number;
  bytes: number;
  ids: string[];
  types: string[];
  customers: string[];
  ts: Float64Array;
  /** NaN = no value. */
  values: Float64Array;
  properties: (string | null)[];
  problems: { line: number; reason: string }[];
}

export function toWire(b: ParsedBatch): { wire: WireBatch; transfer: ArrayBuffer[] } {
  const n = b.events.length;
  const wire: WireBatch = {
    rows: b.rows,
    bytes: b.bytes,
    ids: new Array(n),
    types: new Array(n),
    customers: new Array(n),
    ts: new Float64Array(n),
    values: new Float64Array(n),
    properties: new Array(n),
    problems: b.problems,
  };
  b.events.forEach((e, i) => {
    wire.ids[i] = e.id;
    wire.types[i] = e.type;
    wire.customers[i] = e.customer;
    wire.ts[i] = e.ts;
    wire.values[i] = e.value ?? Number.NaN;
    wire.properties[i] = e.properties;
  });
  return { wire, transfer: [wire.ts.buffer as ArrayBuffer, wire.values.buffer as ArrayBuffer] };
}

function fromWire(w: WireBatch): ParsedBatch {
  const events: UsageEvent[] = new Array(w.ids.length);
  for (let i = 0; i < w.ids.length; i++) {
    const v = w.values[i] as number;
    events[i] = {
      id: w.ids[i] as string,
      type: w.types[i] as string,
      customer: w.customers[i] as string,
      ts: w.ts[i] as number,
      value: Number.isNaN(v) ? null : v,
      properties: w.properties[i] ?? null,
    };
  }
  return { rows: w.rows, bytes: w.bytes, events, problems: w.problems };
}

export function parseBatch(records: RecordBatch, zone: string): ParsedBatch {
  const batch: ParsedBatch = {
    rows: records.length,
    bytes: records.bytesRead ?? 0,
    events: [],
    problems: [],
  };
  for (const raw of records) {
    if (raw.error !== undefined) {
      batch.problems.push({ line: raw.line, reason: raw.error });
      continue;
    }
    const row = parseEventRecord(raw.record, zone);
    if (row.ok) batch.events.push(row.event);
    else batch.problems.push({ line: raw.line, reason: row.reason });
  }
  return batch;
}

/** Batches the worker may send ahead of the importing thread. */
export const WINDOW = 8;

export function parsedBatches(file: string, zone: string): AsyncIterable<ParsedBatch> {
  const workerFile = new URL("./parse-worker.js", import.meta.url);
  if (availableParallelism() < 2 || !existsSync(workerFile)) return inThread(file, zone);
  return inWorker(workerFile, file, zone);
}

async function* inThread(file: string, zone: string): AsyncIterable<ParsedBatch> {
  for await (const records of readRecords(file)) yield parseBatch(records, zone);
}

async function* inWorker(workerFile: URL, file: string, zone: string): AsyncIterable<ParsedBatch> {
  // No loader or eval flags of the parent: the worker is compiled JavaScript.
  const worker = new Worker(workerFile, { workerData: { file, zone }, execArgv: [] });
  const queue: (WireBatch | null | Error)[] = [];
  let wake: (() => void) | null = null;
  const push = (item: WireBatch | null | Error) => {
    queue.push(item);
    wake?.();
    wake = null;
  };
  worker.on("message", (m: WireBatch | null | { error: string; name: string }) =>
    push(
      m !== null && "error" in m
        ? m.name === "InputError"
          ? new InputError(m.error)
          : new Error(m.error)
        : m,
    ),
  );
  worker.on("error", (err) => push(err));
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const item = queue.shift();
      if (item === null || item === undefined) return;
      if (item instanceof Error) throw item;
      worker.postMessage("more");
      yield fromWire(item);
    }
  } finally {
    await worker.terminate();
  }
}
