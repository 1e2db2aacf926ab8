import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { UsageEvent } from "../../../core/usage/event.js";
import { extractColumns, type Layout } from "./layouts.js";
import { insertFolding } from "./rollups.js";

/** A COPY text field: NULL as \N; backslash, tab and newlines escaped. */
function field(v: string | null): string {
  if (v === null) return "\\N";
  return v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

function copyText(batch: UsageEvent[]): string {
  let out = "";
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i] as UsageEvent;
    out += `${i}\t${field(e.id)}\t${field(e.type)}\t${field(e.customer)}\t${e.ts}\t${e.value === null ? "\\N" : e.value}\t${field(e.properties)}\n`;
  }
  return out;
}

/**
 * One batch in one transaction: COPY into a session-private staging table,
 * then `INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING` (R13), in file order
 * (the replay breaks timestamp ties by insertion order). Measured
 * faster than multi-row INSERTs of the same rows (docs/scale.md). The
 * `layouts` say which properties of each type to extract into typed columns;
 * the new rows are folded into the registered rollups in the same statement.
 * Returns how many ids were new.
 */
export async function copyBatch(
  client: pg.PoolClient,
  batch: UsageEvent[],
  layouts: readonly Layout[],
): Promise<number> {
  const extracted = extractColumns([...layouts]);
  try {
    // One round trip: the transaction and the staging table (kept by the session, emptied at commit).
    await client.query(
      `BEGIN;
       CREATE TEMP TABLE IF NOT EXISTS limitr_staged_events
         (ord INTEGER, id TEXT, type TEXT, customer TEXT, ts BIGINT, value DOUBLE PRECISION, properties JSONB)
       ON COMMIT DELETE ROWS`,
    );
    await pipeline(
      Readable.from([copyText(batch)]),
      client.query(
        copyFrom("COPY limitr_staged_events (ord, id, type, customer, ts, value, properties) FROM STDIN"),
      ),
    );
    const inserted = await insertFolding(
      client,
      `INSERT INTO events (id, type, customer, ts, value, properties, ${extracted.names.join(", ")})
       SELECT id, type, customer, ts, value, properties, ${extracted.values.join(", ")}
       FROM limitr_staged_events ORDER BY ord ON CONFLICT (id) DO NOTHING`,
      [],
      layouts,
    );
    await client.query("COMMIT");
    return inserted;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
