import { parse } from "csv-parse";
import { InputError } from "limitr-engine/core/errors";
import { csvCell, RESERVED_PROPERTY } from "limitr-engine/core/usage/event";
import { lineBlocks } from "./line-blocks.js";

/**
 * Usage file types: NDJSON (`.ndjson`, `.jsonl`, `.json`, read by
 * parsed-batches.ts) or CSV (`.csv`, header row, `properties.<name>` columns,
 * read here), each optionally gzipped (`.gz`). Memory stays constant whatever
 * the file size.
 */
export interface RawRecord {
  /** 1-based line of the record in the (decompressed) file. */
  line: number;
  record?: unknown;
  /** Why the row could not even be read as a record. */
  error?: string;
}

/** Records read from one block, with how far into the file (its bytes on disk, compressed or not) reading got. */
export type RecordBatch = RawRecord[] & { bytesRead?: number };

const at = (records: RawRecord[], bytesRead: number): RecordBatch => Object.assign(records, { bytesRead });

export type FileFormat = "ndjson" | "csv";

export function formatOf(path: string): FileFormat {
  const base = path.toLowerCase().replace(/\.gz$/, "");
  if (base.endsWith(".csv")) return "csv";
  if (base.endsWith(".ndjson") || base.endsWith(".jsonl") || base.endsWith(".json")) return "ndjson";
  throw new InputError(`${path}: unknown usage file type (expected .ndjson, .jsonl or .csv, optionally .gz)`);
}

export const INVALID_UTF8 = "invalid UTF-8";

const CSV_FIELDS = new Set(["id", "type", "customer", "timestamp", "value"]);

/** Why the header row makes every row bad (unknown, repeated or reserved columns), or null. */
function headerProblem(header: string[]): string | null {
  const problems: string[] = [];
  const unknown = header.filter((h) => !CSV_FIELDS.has(h) && !/^properties\.[^.].*$/.test(h));
  if (unknown.length > 0) {
    problems.push(
      `unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `"${u}"`).join(", ")} (expected id, type, customer, timestamp, value, properties.<name>)`,
    );
  }
  const repeated = [...new Set(header.filter((h, i) => header.indexOf(h) !== i))];
  for (const h of repeated) problems.push(`duplicate column "${h}"`);
  if (header.includes(`properties.${RESERVED_PROPERTY}`)) {
    problems.push(
      `column "properties.${RESERVED_PROPERTY}": the property name "${RESERVED_PROPERTY}" is reserved`,
    );
  }
  return problems.length > 0 ? problems.join("; ") : null;
}

function csvRecord(header: string[], record: string[]): Record<string, unknown> {
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
  return out;
}

interface CsvItem {
  record: string[];
  info: { lines: number };
}

/**
 * The parser is fed block by block and its records are taken synchronously,
 * so that a parse error (an unclosed quote) comes after every record before
 * it, and the line where the broken record starts is known.
 */
export async function* readCsv(path: string): AsyncIterable<RecordBatch> {
  const parser = parse({ info: true, relax_column_count: true, skip_empty_lines: true });
  const parsed: CsvItem[] = [];
  let failure: Error | null = null;
  parser.on("data", (item: CsvItem) => parsed.push(item));
  parser.on("error", (err: Error) => {
    failure ??= err;
  });
  const badLines = new Set<number>();
  let header: string[] | null = null;
  let headerError: string | null = null;
  let lastEnd = 0;
  let bytesRead = 0;
  const take = (): RecordBatch => {
    const out: RawRecord[] = [];
    for (const { record, info } of parsed) {
      const line = info.lines;
      let invalid = false;
      for (const b of badLines) {
        if (b <= line) {
          if (b > lastEnd) invalid = true;
          badLines.delete(b);
        }
      }
      lastEnd = line;
      if (header === null) {
        header = record.map((h) => h.trim());
        headerError = invalid ? `${INVALID_UTF8} in the header row` : headerProblem(header);
      } else if (invalid) out.push({ line, error: INVALID_UTF8 });
      else if (headerError) out.push({ line, error: headerError });
      else if (record.length !== header.length) {
        out.push({ line, error: `expected ${header.length} columns, got ${record.length}` });
      } else out.push({ line, record: csvRecord(header, record) });
    }
    parsed.length = 0;
    return at(out, bytesRead);
  };
  for await (const block of lineBlocks(path)) {
    bytesRead = block.bytesRead;
    if (block.bad) for (const b of block.bad) badLines.add(b);
    parser.write(block.text);
    yield take();
    if (failure) throw csvFailure(path, lastEnd + 1, failure);
  }
  await new Promise<void>((resolve) => {
    parser.once("end", resolve);
    parser.once("error", () => resolve());
    parser.end();
  });
  yield take();
  if (failure) throw csvFailure(path, lastEnd + 1, failure);
}

function csvFailure(path: string, recordLine: number, err: Error & { code?: string; lines?: number }) {
  if (err.code === "CSV_QUOTE_NOT_CLOSED") {
    return new InputError(
      `${path}:${recordLine}: unclosed quote: a quoted field in the record that starts on this line never ends`,
    );
  }
  return new InputError(`${path}:${err.lines ?? recordLine}: ${err.message}`);
}
