import type pg from "pg";
import type { StreamedEvent } from "../../../core/usage/store-port.js";
import { clamp } from "./sql.js";

/** Rows fetched per round trip and per event type: memory stays bounded however large the period. */
const PAGE = 5000;
/** Events handed to the caller at once. */
const BATCH = 2048;

interface Cursor {
  type: string;
  rows: StreamedEvent[];
  pos: number;
  /** The last row fetched, where the next page starts after. */
  after: [number, number];
  done: boolean;
}

/**
 * The events of `types` in [start, end), in (ts, seq) order: one keyset-paged
 * cursor per type walks the (type, ts, seq) index and the cursors are merged,
 * so the database never sorts the period and no connection is held open
 * between pages.
 */
export async function* eventsInOrder(
  pool: pg.Pool,
  types: readonly string[],
  start: number,
  end: number,
  skip: ReadonlyMap<string, readonly string[]> = new Map(),
): AsyncIterable<StreamedEvent[]> {
  const hi = clamp(end);
  const fetch = async (c: Cursor) => {
    const except = skip.get(c.type) ?? [];
    const params: unknown[] = [c.type, c.after[0], c.after[1], hi, PAGE];
    const filter = except.length > 0 ? ` AND NOT (customer = ANY($${params.push(except)}::text[]))` : "";
    const r = await pool.query<Omit<StreamedEvent, "type">>(
      `SELECT seq, customer, ts, value, properties::text AS properties FROM events
       WHERE type = $1 AND (ts, seq) > ($2, $3) AND ts < $4${filter} ORDER BY ts, seq LIMIT $5`,
      params,
    );
    c.rows = r.rows.map((row) => ({ ...row, type: c.type }));
    c.pos = 0;
    c.done = r.rows.length < PAGE;
    const last = r.rows.at(-1);
    if (last) c.after = [last.ts, last.seq];
  };
  const cursors: Cursor[] = [];
  for (const type of [...new Set(types)].sort()) {
    const c: Cursor = {
      type,
      rows: [],
      pos: 0,
      after: [clamp(start) - 1, Number.MAX_SAFE_INTEGER],
      done: false,
    };
    await fetch(c);
    if (c.rows.length > 0) cursors.push(c);
  }
  let batch: StreamedEvent[] = [];
  while (cursors.length > 0) {
    let best = 0;
    for (let i = 1; i < cursors.length; i++) {
      const a = (cursors[i] as Cursor).rows[(cursors[i] as Cursor).pos] as StreamedEvent;
      const b = (cursors[best] as Cursor).rows[(cursors[best] as Cursor).pos] as StreamedEvent;
      if (a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq)) best = i;
    }
    const c = cursors[best] as Cursor;
    batch.push(c.rows[c.pos++] as StreamedEvent);
    if (c.pos === c.rows.length) {
      if (c.done) cursors.splice(best, 1);
      else {
        await fetch(c);
        if (c.rows.length === 0) cursors.splice(best, 1);
      }
    }
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** How many events `eventsInOrder` will yield. */
export async function countEvents(
  pool: pg.Pool,
  types: readonly string[],
  start: number,
  end: number,
  skip: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<number> {
  let n = 0;
  for (const type of new Set(types)) {
    const except = skip.get(type) ?? [];
    const params: unknown[] = [type, clamp(start), clamp(end)];
    const filter = except.length > 0 ? ` AND NOT (customer = ANY($${params.push(except)}::text[]))` : "";
    const r = await pool.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM events WHERE type = $1 AND ts >= $2 AND ts < $3${filter}`,
      params,
    );
    n += r.rows[0]?.n ?? 0;
  }
  return n;
}
