import { existsSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { InputError } from "limitr-engine/core/errors";
import { parseEventRecord, type UsageEvent } from "limitr-engine/core/usage/event";
import { type EventFields, newEventFields, readEventLine } from "./event-line.js";
import { type LineBlock, lineBlocks } from "./line-blocks.js";
import { formatOf, INVALID_UTF8, type RecordBatch, readCsv } from "./read-events.js";

/**
 * A usage file as batches of validated events and problems, in file order.
 * On a machine with more than one core, and for a file large enough to repay
 * starting a thread, the reading, decompressing and validating runs in a
 * worker thread, so it overlaps the SQLite writes of the importing thread; a
 * small window of in-flight batches bounds memory.
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
 * Every string of the batch is a range of one text: the block of the file the
 * events were read from, followed by the strings of events read the slow way.
 */
export interface WireBatch {
  rows: number;
  bytes: number;
  text: string;
  /** Per event: start and end in `text` of id, type, customer, properties (start -1: no properties). */
  ranges: Int32Array;
  ts: Float64Array;
  /** NaN = no value. */
  values: Float64Array;
  problems: { line: number; reason: string }[];
}

const RANGES = 8;

class WireBuilder {
  private n = 0;
  private ranges: Int32Array;
  private ts: Float64Array;
  private values: Float64Array;
  private readonly extra: string[] = [];
  private length: number;
  readonly problems: { line: number; reason: string }[] = [];

  constructor(
    private readonly base: string,
    capacity: number,
  ) {
    this.length = base.length;
    const cap = Math.max(capacity, 16);
    this.ranges = new Int32Array(cap * RANGES);
    this.ts = new Float64Array(cap);
    this.values = new Float64Array(cap);
  }

  private room(): number {
    if (this.n === this.ts.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, size: number): T => {
        const b = new (a.constructor as new (n: number) => T)(size);
        b.set(a);
        return b;
      };
      this.ranges = grow(this.ranges, this.ranges.length * 2);
      this.ts = grow(this.ts, this.ts.length * 2);
      this.values = grow(this.values, this.values.length * 2);
    }
    return this.n++;
  }

  /** An event read in place from the base text. */
  fields(f: EventFields): void {
    const i = this.room();
    const r = this.ranges;
    const k = i * RANGES;
    r[k] = f.idStart;
    r[k + 1] = f.idEnd;
    r[k + 2] = f.typeStart;
    r[k + 3] = f.typeEnd;
    r[k + 4] = f.customerStart;
    r[k + 5] = f.customerEnd;
    r[k + 6] = f.propsStart;
    r[k + 7] = f.propsEnd;
    this.ts[i] = f.ts;
    this.values[i] = f.value;
  }

  private put(s: string, k: number): void {
    this.ranges[k] = this.length;
    this.length += s.length;
    this.ranges[k + 1] = this.length;
    this.extra.push(s);
  }

  /** An event read the slow way: its strings follow the base text. */
  event(e: UsageEvent): void {
    const i = this.room();
    const k = i * RANGES;
    this.put(e.id, k);
    this.put(e.type, k + 2);
    this.put(e.customer, k + 4);
    if (e.properties === null) this.ranges[k + 6] = -1;
    else this.put(e.properties, k + 6);
    this.ts[i] = e.ts;
    this.values[i] = e.value ?? Number.NaN;
  }

  finish(rows: number, bytes: number): WireBatch {
    const n = this.n;
    return {
      rows,
      bytes,
      text: this.extra.length === 0 ? this.base : this.base + this.extra.join(""),
      ranges: this.ranges.subarray(0, n * RANGES),
      ts: this.ts.subarray(0, n),
      values: this.values.subarray(0, n),
      problems: this.problems,
    };
  }
}

/** Buffers a batch hands to another thread (its typed arrays). */
export function transferables(w: WireBatch): ArrayBuffer[] {
  return [w.ranges.buffer as ArrayBuffer, w.ts.buffer as ArrayBuffer, w.values.buffer as ArrayBuffer];
}

/** A block of NDJSON lines: common lines read in place (event-line.ts), the rest through JSON.parse. */
export function ndjsonBlock(block: LineBlock, zone: string): WireBatch {
  const { text, bad } = block;
  const b = new WireBuilder(text, Math.ceil(text.length / 100));
  const f = newEventFields();
  let rows = 0;
  let line = block.firstLine;
  for (let start = 0; start < text.length; line++) {
    let nl = text.indexOf("\n", start);
    if (nl < 0) nl = text.length;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    if (bad?.has(line)) {
      rows++;
      b.problems.push({ line, reason: INVALID_UTF8 });
    } else if (readEventLine(text, start, end, zone, f)) {
      rows++;
      b.fields(f);
    } else {
      const raw = text.slice(start, end);
      if (raw.trim() !== "") {
        rows++;
        let record: unknown;
        let parsed = true;
        try {
          record = JSON.parse(raw);
        } catch {
          parsed = false;
          b.problems.push({ line, reason: "invalid JSON" });
        }
        if (parsed) {
          const row = parseEventRecord(record, zone);
          if (row.ok) b.event(row.event);
          else b.problems.push({ line, reason: row.reason });
        }
      }
    }
    start = nl + 1;
  }
  return b.finish(rows, block.bytesRead);
}

/** Records read by another reader (CSV), validated. */
export function recordsBatch(records: RecordBatch, zone: string): WireBatch {
  const b = new WireBuilder("", records.length);
  for (const raw of records) {
    if (raw.error !== undefined) {
      b.problems.push({ line: raw.line, reason: raw.error });
      continue;
    }
    const row = parseEventRecord(raw.record, zone);
    if (row.ok) b.event(row.event);
    else b.problems.push({ line: raw.line, reason: row.reason });
  }
  return b.finish(records.length, records.bytesRead ?? 0);
}

/** The file's batches as they cross threads (the worker's loop, and the loop of the single-thread path). */
export async function* wireBatches(file: string, zone: string): AsyncIterable<WireBatch> {
  if (formatOf(file) === "ndjson") {
    for await (const block of lineBlocks(file)) yield ndjsonBlock(block, zone);
  } else {
    for await (const records of readCsv(file)) yield recordsBatch(records, zone);
  }
}

export function fromWire(w: WireBatch): ParsedBatch {
  const n = w.ts.length;
  const events: UsageEvent[] = new Array(n);
  const { text, ranges, ts, values } = w;
  for (let i = 0; i < n; i++) {
    const k = i * RANGES;
    const v = values[i] as number;
    const ps = ranges[k + 6] as number;
    events[i] = {
      id: text.slice(ranges[k], ranges[k + 1]),
      type: text.slice(ranges[k + 2], ranges[k + 3]),
      customer: text.slice(ranges[k + 4], ranges[k + 5]),
      ts: ts[i] as number,
      value: Number.isNaN(v) ? null : v,
      properties: ps < 0 ? null : text.slice(ps, ranges[k + 7]),
    };
  }
  return { rows: w.rows, bytes: w.bytes, events, problems: w.problems };
}

/** Batches the worker may send ahead of the importing thread. */
export const WINDOW = 8;

/**
 * Below this many bytes of text (a .gz counted at about 8x its size), a file is
 * read in the importing thread: starting a worker (about 0.1 s of CPU, loading
 * its modules) costs more than the overlap saves. Measured: 20,000 events
 * (3 MB of NDJSON) import faster in one thread, 100,000 (15 MB) about 10 %
 * faster with the worker. LIMITR_IMPORT_WORKER_MIN_BYTES overrides it
 * (tests force the worker path with 0).
 */
function workerMinBytes(): number {
  const set = Number(process.env.LIMITR_IMPORT_WORKER_MIN_BYTES);
  return Number.isFinite(set) && process.env.LIMITR_IMPORT_WORKER_MIN_BYTES !== "" ? set : 8 << 20;
}

function textSize(file: string): number {
  try {
    const size = statSync(file).size;
    return file.toLowerCase().endsWith(".gz") ? size * 8 : size;
  } catch {
    return 0;
  }
}

export function parsedBatches(file: string, zone: string): AsyncIterable<ParsedBatch> {
  const workerFile = new URL("./parse-worker.js", import.meta.url);
  if (availableParallelism() < 2 || textSize(file) < workerMinBytes() || !existsSync(workerFile))
    return inThread(file, zone);
  return inWorker(workerFile, file, zone);
}

async function* inThread(file: string, zone: string): AsyncIterable<ParsedBatch> {
  for await (const wire of wireBatches(file, zone)) yield fromWire(wire);
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
      // A batch woken by a message would be imported inside the port's delivery of the
      // worker's messages, which goes on while the worker keeps sending: the event loop would
      // not turn until the file ends (no progress display, no timers, no other I/O).
      // Continue from a fresh turn instead.
      await new Promise<void>((r) => setImmediate(r));
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
