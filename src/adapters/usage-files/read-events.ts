import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
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

export type FileFormat = "ndjson" | "csv";

export function formatOf(path: string): FileFormat {
  const base = path.toLowerCase().replace(/\.gz$/, "");
  if (base.endsWith(".csv")) return "csv";
  if (base.endsWith(".ndjson") || base.endsWith(".jsonl") || base.endsWith(".json")) return "ndjson";
  throw new InputError(`${path}: unknown usage file type (expected .ndjson, .jsonl or .csv, optionally .gz)`);
}

function open(path: string): Readable {
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  return path.toLowerCase().endsWith(".gz") ? file.pipe(createGunzip()) : file;
}

export function readRecords(path: string): AsyncIterable<RawRecord> {
  return formatOf(path) === "csv" ? readCsv(path) : readNdjson(path);
}

async function* readNdjson(path: string): AsyncIterable<RawRecord> {
  const lines = createInterface({ input: open(path), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    try {
      yield { line, record: JSON.parse(text) };
    } catch {
      yield { line, error: "invalid JSON" };
    }
  }
}

const CSV_FIELDS = new Set(["id", "type", "customer", "timestamp", "value"]);

async function* readCsv(path: string): AsyncIterable<RawRecord> {
  const parser = open(path).pipe(parse({ info: true, relax_column_count: true, skip_empty_lines: true, bom: true }));
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
