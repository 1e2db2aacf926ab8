import { type ParsedRow, parseEventRecord, type UsageEvent } from "../../core/usage/event.js";
import type { Db } from "../store/database.js";
import { eventWriter } from "../store/usage-store.js";
import { type RawRecord, readRecords } from "./read-events.js";

/**
 * `usage import`: stream files into the store in batches, one transaction per
 * batch (SPEC §6). Ids already in the store are skipped (R13), so a re-run
 * after a crash completes the import without duplicates.
 */
export interface ImportOptions {
  /** Zone for timestamps without an offset. */
  zone: string;
  /** Validate everything first; write nothing if any row is bad. */
  strict: boolean;
  batchSize?: number;
  onProblem: (file: string, line: number, reason: string) => void;
  onProgress?: (rowsRead: number) => void;
}

export interface FileSummary {
  file: string;
  rows: number;
  imported: number;
  duplicates: number;
  skipped: number;
}

export interface ImportSummary {
  files: FileSummary[];
  rows: number;
  imported: number;
  duplicates: number;
  skipped: number;
  /** Strict mode found bad rows: nothing was written. */
  refused: boolean;
}

function parse(raw: RawRecord, zone: string): ParsedRow {
  return raw.error !== undefined ? { ok: false, reason: raw.error } : parseEventRecord(raw.record, zone);
}

export async function importFiles(db: Db, files: string[], options: ImportOptions): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? 5000;
  const summary: ImportSummary = {
    files: [],
    rows: 0,
    imported: 0,
    duplicates: 0,
    skipped: 0,
    refused: false,
  };
  if (options.strict) {
    let bad = 0;
    for (const file of files) {
      for await (const records of readRecords(file)) {
        for (const raw of records) {
          const row = parse(raw, options.zone);
          if (!row.ok) {
            bad++;
            options.onProblem(file, raw.line, row.reason);
          }
        }
      }
    }
    if (bad > 0) return { ...summary, skipped: bad, refused: true };
  }
  // A larger page cache keeps the id/time index pages of a long import in memory.
  db.pragma("cache_size = -65536");
  const write = eventWriter(db);
  let read = 0;
  for (const file of files) {
    const fs: FileSummary = { file, rows: 0, imported: 0, duplicates: 0, skipped: 0 };
    let batch: UsageEvent[] = [];
    const flush = () => {
      const n = write(batch);
      fs.imported += n;
      fs.duplicates += batch.length - n;
      batch = [];
    };
    for await (const records of readRecords(file)) {
      for (const raw of records) {
        fs.rows++;
        const row = parse(raw, options.zone);
        if (!row.ok) {
          fs.skipped++;
          options.onProblem(file, raw.line, row.reason);
          continue;
        }
        batch.push(row.event);
        if (batch.length >= batchSize) flush();
        if (++read % 100_000 === 0) options.onProgress?.(read);
      }
    }
    if (batch.length > 0) flush();
    summary.files.push(fs);
    summary.rows += fs.rows;
    summary.imported += fs.imported;
    summary.duplicates += fs.duplicates;
    summary.skipped += fs.skipped;
  }
  return summary;
}
