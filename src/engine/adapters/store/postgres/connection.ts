import pg from "pg";
import { InputError } from "../../../core/errors.js";
import type { PgLocation } from "./url.js";

/**
 * BIGINT columns (times, counts) fit a double. NUMERIC is returned only by
 * aggregates of extracted values (exact sums of a day's events): read as the
 * double nearest the exact sum, which `quantityOf` rounds to 9 decimals.
 */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** A small pool: CLI commands run a few queries at a time (the replay's cursors, a bill's scans). */
export function createPool(location: PgLocation): pg.Pool {
  const pool = new pg.Pool({
    connectionString: location.connectionString,
    max: 4,
    types,
    ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
    connectionTimeoutMillis: 10_000,
  });
  // A dropped idle connection is replaced on the next query; it must not crash the process.
  pool.on("error", () => {});

  return pool;
}

/** Driver and server errors, as the one line a user reads. */
export function storeError(display: string, err: unknown, doing = "use"): InputError {
  const e = err as { message?: string; code?: string; errors?: { message: string }[] };
  const message = e.message || e.errors?.map((x) => x.message).join("; ") || e.code || String(err);
  return new InputError(`cannot ${doing} store ${display}: ${message}`);
}
