import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { UsageEvent } from "../../../core/usage/event.js";
import { extractColumns, type Layout } from "./layouts.js";
import { FOLD_START, type Folding, foldingStatement, type Rollup } from "./rollups.js";

/** A COPY text field: NULL as \N; backslash, tab and newlines escaped. */
function field(v: string | null): string {
  if (v === null) return "\\N";
  return v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

/**
 * The batch's COPY text in chunks, each encoded when the stream asks for it:
 * the database parses one chunk while the next is encoded.
 */
function* copyChunks(batch: UsageEvent[]): Generator<string> {
  for (let i = 0; i < batch.length; i += CHUNK) yield copyText(batch, i, Math.min(i + CHUNK, batch.length));
}

/** Rows per chunk of the COPY stream. */
const CHUNK = 500;

function copyText(batch: UsageEvent[], from = 0, to = batch.length): string {
  let out = "";
  for (let i = from; i < to; i++) {
    const e = batch[i] as UsageEvent;
    out += `${i}\t${field(e.id)}\t${field(e.type)}\t${field(e.customer)}\t${e.ts}\t${e.value === null ? "\\N" : e.value}\t${field(e.properties)}\n`;
  }
  return out;
}

/**
 * One batch in one transaction: COPY into a session-private staging table,
 * then `INSERT ... SELECT` into the events in file order (the replay breaks
 * timestamp ties by insertion order). Measured faster than multi-row INSERTs
 * of the same rows (docs/scale.md). A batch of distinct ids is inserted
 * without `ON CONFLICT` inside a savepoint (a plain insert costs less than a
 * speculative one); a known id (unique violation) rolls it back and the batch
 * goes again with `ON CONFLICT (id) DO NOTHING` (R13), as does every batch
 * after one that held known ids, until a batch holds none. The
 * `layouts` say which properties of each type to extract into typed columns;
 * the new rows are folded into the registered rollups in the same statement.
 * A transaction chosen as a deadlock's victim (two importers writing the same
 * ids in opposite orders) is rolled back and run again. Returns how many ids
 * were new.
 */
export async function copyBatch(
  client: pg.PoolClient,
  batch: UsageEvent[],
  layouts: readonly Layout[],
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction(client, batch, layouts);
    } catch (err) {
      // Whatever this session holds prepared is looked up again next time.
      prepared.delete(client);
      await client.query("ROLLBACK").catch(() => {});
      if ((err as { code?: string }).code !== DEADLOCK || attempt >= 5) throw err;
    }
  }
}

const UNIQUE_VIOLATION = "23505";
const DEADLOCK = "40P01";

/** One attempt at a batch: its transaction, committed. */
async function transaction(
  client: pg.PoolClient,
  batch: UsageEvent[],
  layouts: readonly Layout[],
): Promise<number> {
  const extracted = extractColumns([...layouts]);
  // One round trip: the transaction, the staging table (kept by the session, emptied at
  // commit), the rollup lock and the registered rollups.
  const started = (await client.query(
    `BEGIN;
     CREATE TEMP TABLE IF NOT EXISTS limitr_staged_events
       (ord INTEGER, id TEXT, type TEXT, customer TEXT, ts BIGINT, value DOUBLE PRECISION, properties JSONB)
     ON COMMIT DELETE ROWS;
     ${FOLD_START}`,
  )) as unknown as pg.QueryResult[];
  const defs = (started[started.length - 1] as pg.QueryResult<Rollup>).rows;
  await pipeline(
    Readable.from(copyChunks(batch), { objectMode: false }),
    client.query(
      copyFrom("COPY limitr_staged_events (ord, id, type, customer, ts, value, properties) FROM STDIN"),
    ),
  );
  const insert = (onConflict: boolean) =>
    `INSERT INTO events (id, type, customer, ts, value, properties, ${extracted.names.join(", ")})
     SELECT id, type, customer, ts, value, properties, ${extracted.values.join(", ")}
     FROM limitr_staged_events ORDER BY ord${onConflict ? " ON CONFLICT (id) DO NOTHING" : ""}`;
  const run = async (onConflict: boolean): Promise<number> => {
    const sql = insert(onConflict);
    const folding = foldingStatement(defs, sql, layouts);
    // A new batch is inserted without ON CONFLICT inside a savepoint; a known id rolls it back.
    const [pre, post] = onConflict ? ["", ""] : ["SAVEPOINT limitr_new; ", "; RELEASE limitr_new"];
    if (!folding) {
      const r = (await client.query(`${pre}${sql}${post}; COMMIT`)) as unknown as pg.QueryResult[];
      return r[onConflict ? 0 : 1]?.rowCount ?? 0;
    }
    await prepare(client, folding);
    const r = (await client.query(
      `${pre}EXECUTE ${folding.name}${post}; COMMIT`,
    )) as unknown as pg.QueryResult<{
      n: number;
    }>[];
    return r[onConflict ? 0 : 1]?.rows[0]?.n ?? 0;
  };
  const state = sessions.get(client) ?? { known: false };
  sessions.set(client, state);
  if (!state.known && distinctIds(batch)) {
    try {
      return await run(false);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A known id (unique violation) or a concurrent importer of the same ids (deadlock):
      // the batch goes again, skipping known ids.
      if (code !== UNIQUE_VIOLATION && code !== DEADLOCK) throw err;
      await client.query("ROLLBACK TO SAVEPOINT limitr_new");
    }
  }
  const n = await run(true);
  // Batches after one with known ids skip them at once (a re-import); a batch of only new ids
  // sends the next one down the fast path again.
  state.known = n < batch.length;
  return n;
}

/** The fold statements each importing session has prepared, by name. */
const prepared = new WeakMap<pg.PoolClient, Set<string>>();

/** Per importing session: did its last batch hold known ids (so the next one skips them at once)? */
const sessions = new WeakMap<pg.PoolClient, { known: boolean }>();

/** Prepare the statement once per session (SQL PREPARE, so it runs with the COMMIT in one round trip). */
async function prepare(client: pg.PoolClient, folding: Folding): Promise<void> {
  let names = prepared.get(client);
  if (!names) prepared.set(client, (names = new Set()));
  if (names.has(folding.name)) return;
  const known = await client.query("SELECT 1 FROM pg_prepared_statements WHERE name = $1", [folding.name]);
  if (known.rowCount === 0) await client.query(`PREPARE ${folding.name} AS ${folding.text}`);
  names.add(folding.name);
}

/** Does every event of the batch have its own id? */
function distinctIds(batch: UsageEvent[]): boolean {
  const ids = new Set<string>();
  for (const e of batch) ids.add(e.id);
  return ids.size === batch.length;
}
