import type { StreamedEvent } from "../../core/usage/store-port.js";
import type { Db } from "./database.js";

export type { StreamedEvent };

/** Customers whose events of a type cannot matter are filtered inside SQLite: a row never crosses into JS for nothing. */
const EXCEPT = " AND customer NOT IN (SELECT value FROM json_each(?))";

type Row = [seq: number, customer: string, ts: number, value: number | null, properties: string | null];

/**
 * The events of `types` with `start <= ts < end`, in (ts, seq) order,
 * streamed: one cursor per type walks the (type, ts) index and the cursors
 * are merged, so SQLite never sorts and memory stays constant however many
 * events the period holds.
 */
export function* eventsInOrder(
  db: Db,
  types: readonly string[],
  start: number,
  end: number,
  skip: ReadonlyMap<string, readonly string[]> = new Map(),
): Generator<StreamedEvent> {
  const sql = (except: boolean) =>
    `SELECT seq, customer, ts, value, properties FROM events WHERE type = ? AND ts >= ? AND ts < ?${except ? EXCEPT : ""} ORDER BY ts, seq`;
  const cursors: { type: string; it: Iterator<Row>; head: Row }[] = [];
  const lo = Number.isFinite(start) ? start : Number.MIN_SAFE_INTEGER;
  const hi = Number.isFinite(end) ? end : Number.MAX_SAFE_INTEGER;
  try {
    for (const type of [...new Set(types)].sort()) {
      // One statement per cursor: a statement runs one query at a time.
      const except = skip.get(type) ?? [];
      const params = except.length > 0 ? [type, lo, hi, JSON.stringify(except)] : [type, lo, hi];
      const it = db
        .prepare(sql(except.length > 0))
        .raw(true)
        .iterate(...params) as IterableIterator<Row>;
      const first = it.next();
      if (first.done) continue;
      cursors.push({ type, it, head: first.value });
    }
    while (cursors.length > 0) {
      // A handful of event types: a linear scan for the earliest head beats a heap here.
      let best = 0;
      for (let i = 1; i < cursors.length; i++) {
        const a = (cursors[i] as (typeof cursors)[number]).head;
        const b = (cursors[best] as (typeof cursors)[number]).head;
        if (a[2] < b[2] || (a[2] === b[2] && a[0] < b[0])) best = i;
      }
      const c = cursors[best] as (typeof cursors)[number];
      const [seq, customer, ts, value, properties] = c.head;
      yield { seq, type: c.type, customer, ts, value, properties };
      const next = c.it.next();
      if (next.done) cursors.splice(best, 1);
      else c.head = next.value;
    }
  } finally {
    // An abandoned generator must not leave statements open on the connection.
    for (const c of cursors) c.it.return?.();
  }
}

/** How many events `eventsInOrder` will yield (an index count, for progress). */
export function countEvents(
  db: Db,
  types: readonly string[],
  start: number,
  end: number,
  skip: ReadonlyMap<string, readonly string[]> = new Map(),
): number {
  if (types.length === 0) return 0;
  const lo = Number.isFinite(start) ? start : Number.MIN_SAFE_INTEGER;
  const hi = Number.isFinite(end) ? end : Number.MAX_SAFE_INTEGER;
  const base = "SELECT COUNT(*) FROM events WHERE type = ? AND ts >= ? AND ts < ?";
  let n = 0;
  for (const type of new Set(types)) {
    // Without a customer filter the count reads the (type, ts) index alone.
    const except = skip.get(type) ?? [];
    n += (
      except.length > 0
        ? db
            .prepare(base + EXCEPT)
            .pluck()
            .get(type, lo, hi, JSON.stringify(except))
        : db.prepare(base).pluck().get(type, lo, hi)
    ) as number;
  }
  return n;
}
