import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { parse } from "csv-parse";
import { InputError } from "../../core/errors.js";
import { csvCell } from "../../core/usage/event.js";

/**
 * Streaming readers for usage files: NDJSON (`.ndjson`, `.jsonl`, `.json`)
 * or CSV (`.csv`, header row, `properties.<name>` columns), each optionally
 * gzipped (`.gz`). Memory stays constant whatever the file size.
 */
export interface RawRecord {
  /** 1-based line of the record in the (decompressed) file. */
  line: number;
  record?: unknown;
  /** Why the row could not even be read as a record. */
  error?: string;
}

/** Records read from one chunk, with how far into the file (its bytes on disk, compressed or not) reading got. */
export type RecordBatch = RawRecord[] & { bytesRead?: number };

const at = (records: RawRecord[], file: { bytesRead: number }): RecordBatch =>
  Object.assign(records, { bytesRead: file.bytesRead });

export type FileFormat = "ndjson" | "csv";

export function formatOf(path: string): FileFormat {
  const base = path.toLowerCase().replace(/\.gz$/, "");
  if (base.endsWith(".csv")) return "csv";
  if (base.endsWith(".ndjson") || base.endsWith(".jsonl") || base.endsWith(".json")) return "ndjson";
  throw new InputError(`${path}: unknown usage file type (expected .ndjson, .jsonl or .csv, optionally .gz)`);
}

function open(path: string): { stream: Readable; file: { bytesRead: number } } {
  // Compressed input expands about tenfold: smaller reads keep `bytesRead` (progress) close to what was parsed.
  const gz = path.toLowerCase().endsWith(".gz");
  const file = createReadStream(path, { highWaterMark: gz ? 1 << 17 : 1 << 20 });
  return { stream: gz ? file.pipe(createGunzip()) : file, file };
}

/** Records in file order, in batches (one per chunk read) so callers loop synchronously within a batch. */
export function readRecords(path: string): AsyncIterable<RecordBatch> {
  if (formatOf(path) === "ndjson") return readNdjson(path);
  const opened = open(path);
  return batched(readCsv(opened.stream), opened.file);
}

async function* readNdjson(path: string): AsyncIterable<RecordBatch> {
  const decoder = new TextDecoder("utf-8", { fatal: false });
  let carry = "";
  let line = 0;
  const parseLines = (text: string, final: boolean): RawRecord[] => {
    const out: RawRecord[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      pushLine(out, text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
    if (final && carry !== "") {
      pushLine(out, carry);
      carry = "";
    }
    return out;
  };
  const pushLine = (out: RawRecord[], raw: string) => {
    line++;
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (text.trim() === "") return;
    try {
      out.push({ line, record: JSON.parse(text) });
    } catch {
      out.push({ line, error: "invalid JSON" });
    }
  };
  const { stream, file } = open(path);
  for await (const chunk of stream) {
    yield at(parseLines(carry + decoder.decode(chunk as Buffer, { stream: true }), false), file);
  }
  yield at(parseLines(carry + decoder.decode(), true), file);
}

async function* batched(
  records: AsyncIterable<RawRecord>,
  file: { bytesRead: number },
  size = 2000,
): AsyncIterable<RecordBatch> {
  let batch: RawRecord[] = [];
  for await (const r of records) {
    batch.push(r);
    if (batch.length >= size) {
      yield at(batch, file);
      batch = [];
    }
  }
  if (batch.length > 0) yield at(batch, file);
}

const CSV_FIELDS = new Set(["id", "type", "customer", "timestamp", "value"]);

async function* readCsv(input: Readable): AsyncIterable<RawRecord> {
  const parser = input.pipe(
    parse({ info: true, relax_column_count: true, skip_empty_lines: true, bom: true }),
  );
  let header: string[] | null = null;
  let headerError: string | null = null;
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const { record, info } = item;
    if (header === null) {
      header = record.map((h) => h.trim());
      const unknown = header.filter((h) => !CSV_FIELDS.has(h) && !/^properties\.[^.].*$/.test(h));
      if (unknown.length > 0) {
        headerError = `unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `"${u}"`).join(", ")} (expected id, type, customer, timestamp, value, properties.<name>)`;
      }
      continue;
    }
    if (headerError) {
      yield { line: info.lines, error: headerError };
      continue;
    }
    if (record.length !== header.length) {
      yield { line: info.lines, error: `expected ${header.length} columns, got ${record.length}` };
      continue;
    }
    const out: Record<string, unknown> = {};
    let props: Record<string, unknown> | undefined;
    for (let i = 0; i < header.length; i++) {
      const name = header[i] as string;
      const cell = record[i] as string;
      if (name.startsWith("properties.")) {
        if (cell === "") continue;
        props ??= {};
        props[name.slice("properties.".length)] = csvCell(cell);
      } else if (cell !== "") out[name] = cell;
    }
    if (props) out.properties = props;
    yield { line: info.lines, record: out };
  }
}
