import type { parse as Parse } from "csv-parse";
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
 *
 * Once the first block has shown that lines end in "\n" alone, a later block
 * without a quote or a carriage return, coming while no quoted field is open,
 * is split on newlines and commas here (what csv-parse makes of such text,
 * without its per-character state machine). The parser run before it is ended
 * first (it holds a block's last record until it sees more input), and a new
 * one, told the record delimiter, reads the next block that needs it.
 */
export interface CsvOptions {
  /** Split plain blocks in place (default); false: csv-parse reads every block. */
  plainBlocks?: boolean;
  /** Counts blocks split in place. */
  stats?: { plainBlocks: number };
}

export async function* readCsv(path: string, options: CsvOptions = {}): AsyncIterable<RecordBatch> {
  // Loaded for CSV files only: NDJSON imports (in both of their threads) skip its load.
  const { parse } = await import("csv-parse");
  const parsed: CsvItem[] = [];
  let failure: Error | null = null;
  type Parser = ReturnType<typeof Parse>;
  const start = (delimiter?: string): Parser => {
    const p = parse({
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      ...(delimiter ? { record_delimiter: delimiter } : {}),
    });
    p.on("data", (item: CsvItem) => parsed.push(item));
    p.on("error", (err: Error & { lines?: number }) => {
      if (failure === null) {
        // Its line numbers (in `lines` and in some messages) count from its own start.
        if (err.lines !== undefined && base > 0) {
          err.message = err.message.replace(` at line ${err.lines}`, ` at line ${err.lines + base}`);
          err.lines += base;
        }
        failure = err;
      }
    });
    return p;
  };
  let parser: Parser | null = start();
  /** Lines of the file before the current parser's first: it counts from its own start. */
  let base = 0;
  const finish = (p: Parser) =>
    new Promise<void>((resolve) => {
      // A parser that failed (an opening quote inside a field) is destroyed: it would never end.
      if (p.destroyed) return resolve();
      p.once("end", resolve);
      p.once("close", resolve);
      p.once("error", () => resolve());
      p.end();
    });
  const badLines = new Set<number>();
  let header: string[] | null = null;
  let headerError: string | null = null;
  let lastEnd = 0;
  let bytesRead = 0;
  let out: RawRecord[] = [];
  const emit = (record: string[], line: number, invalid: boolean) => {
    lastEnd = line;
    if (header === null) {
      header = record.map((h) => h.trim());
      headerError = invalid ? `${INVALID_UTF8} in the header row` : headerProblem(header);
    } else if (invalid) out.push({ line, error: INVALID_UTF8 });
    else if (headerError) out.push({ line, error: headerError });
    else if (record.length !== header.length) {
      out.push({ line, error: `expected ${header.length} columns, got ${record.length}` });
    } else out.push({ line, record: csvRecord(header, record) });
  };
  const takeParsed = () => {
    for (const { record, info } of parsed) {
      const line = info.lines + base;
      let invalid = false;
      for (const b of badLines) {
        if (b <= line) {
          if (b > lastEnd) invalid = true;
          badLines.delete(b);
        }
      }
      emit(record, line, invalid);
    }
    parsed.length = 0;
  };
  const batch = (): RecordBatch => {
    const records = at(out, bytesRead);
    out = [];
    return records;
  };
  let lfOnly = false;
  let quotes = 0;
  let first = true;
  const plain = (text: string) =>
    options.plainBlocks !== false &&
    lfOnly &&
    quotes % 2 === 0 &&
    !text.includes('"') &&
    !text.includes("\r");
  for await (const block of lineBlocks(path)) {
    const { text } = block;
    bytesRead = block.bytesRead;
    if (block.bad) for (const b of block.bad) badLines.add(b);
    if (first) {
      first = false;
      const nl = text.indexOf("\n");
      const head = text.slice(0, nl + 1);
      lfOnly = nl >= 0 && !head.includes("\r") && !head.includes('"');
    } else if (plain(text)) {
      if (parser) {
        await finish(parser);
        parser = null;
        takeParsed();
        if (failure) throw csvFailure(path, lastEnd + 1, failure);
      }
      if (options.stats) options.stats.plainBlocks++;
      let line = block.firstLine;
      for (let start = 0; start < text.length; line++) {
        let nl = text.indexOf("\n", start);
        if (nl < 0) nl = text.length;
        if (nl > start) emit(text.slice(start, nl).split(","), line, badLines.delete(line));
        start = nl + 1;
      }
      yield batch();
      continue;
    }
    if (!parser) {
      parser = start("\n");
      base = block.firstLine - 1;
    }
    for (let q = text.indexOf('"'); q >= 0; q = text.indexOf('"', q + 1)) quotes++;
    parser.write(text);
    takeParsed();
    yield batch();
    if (failure) throw csvFailure(path, lastEnd + 1, failure);
  }
  if (parser) await finish(parser);
  takeParsed();
  yield batch();
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
