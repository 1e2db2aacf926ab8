import { accessSync, constants, statSync } from "node:fs";
import { InputError } from "limitr-engine/core/errors";
import type { UsageEvent } from "limitr-engine/core/usage/event";
import type { UsageStore } from "limitr-engine/core/usage/store-port";
import { parsedBatches } from "./parsed-batches.js";
import { formatOf } from "./read-events.js";

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
  /** Rows read so far, and bytes read of all the files together (for a percentage of their size). */
  onProgress?: (rowsRead: number, bytesRead: number) => void;
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

/** Every file must be readable and of a known type before anything is written (or a store created). */
export function checkImportFiles(files: string[]): void {
  for (const file of files) {
    formatOf(file);
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
}

export async function importFiles(
  store: UsageStore,
  files: string[],
  options: ImportOptions,
): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? 5000;
  checkImportFiles(files);
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
    try {
      for (const file of files) {
        for await (const batch of parsedBatches(file, options.zone)) {
          for (const p of batch.problems) options.onProblem(file, p.line, p.reason);
          bad += batch.problems.length;
        }
      }
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`${err.message}\n--strict: nothing was imported`);
      throw err;
    }
    if (bad > 0) return { ...summary, skipped: bad, refused: true };
  }
  let read = 0;
  let bytesBefore = 0;
  for (const file of files) {
    const fs: FileSummary = { file, rows: 0, imported: 0, duplicates: 0, skipped: 0 };
    let batch: UsageEvent[] = [];
    const flush = async () => {
      const n = await store.insertEvents(batch);
      fs.imported += n;
      fs.duplicates += batch.length - n;
      batch = [];
    };
    const done = async () => {
      if (batch.length > 0) await flush();
      summary.files.push(fs);
      summary.rows += fs.rows;
      summary.imported += fs.imported;
      summary.duplicates += fs.duplicates;
      summary.skipped += fs.skipped;
    };
    try {
      for await (const parsed of parsedBatches(file, options.zone)) {
        fs.rows += parsed.rows;
        fs.skipped += parsed.problems.length;
        for (const p of parsed.problems) options.onProblem(file, p.line, p.reason);
        for (const event of parsed.events) {
          batch.push(event);
          if (batch.length >= batchSize) await flush();
        }
        read += parsed.rows;
        options.onProgress?.(read, bytesBefore + parsed.bytes);
      }
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      // The file cannot be read to its end: keep what was read before (as for a killed
      // import) and say how much that is, so a re-run after the fix is understood.
      await done();
      throw new InputError(
        `${err.message}\n${summary.imported} events imported before the error (${summary.duplicates} duplicates, ` +
          `${summary.skipped} bad rows skipped) stay imported; fix the file and run the same import again ` +
          "(events already imported count as duplicates)",
      );
    }
    await done();
    bytesBefore += statSync(file).size;
  }
  return summary;
}
