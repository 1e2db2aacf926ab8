import { encodeAddOns, withAddOns } from "../../core/add-ons.js";
import type { CompiledMeter } from "../../core/model.js";
import { LIFETIME, type Window } from "../../core/periods.js";
import type { UsageEvent } from "../../core/usage/event.js";
import { COUNT_WEIGHT_SQL, sqlValue } from "../../core/usage/meters.js";
import type { AggregateRow, AggregateSpec, SubscriptionRow } from "../../core/usage/store-port.js";
import { integrateReadings } from "../../core/usage/time-weighted.js";
import type { Db } from "./database.js";

export type { AggregateRow, AggregateSpec, SubscriptionRow };

/**
 * Events and plan history in the SQLite store: batched idempotent inserts
 * (R13) and meter aggregation in SQL, so a bill never loads events into memory.
 */

/** Rows per multi-row INSERT: crossing into SQLite once per 100 rows instead of once per row. */
const ROWS_PER_STATEMENT = 100;
const COLUMNS = "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties) VALUES ";

/** Called around a batch's inserts inside its transaction (rollup maintenance, see `RollupMaintainer`). */
export interface InsertHooks {
  before(): number;
  after(before: number): void;
}

/** Insert a batch in one transaction; returns how many ids were new. A crash keeps whole batches only. */
export function eventWriter(db: Db, hooks?: InsertHooks): (batch: UsageEvent[]) => number {
  const one = db.prepare(`${COLUMNS}(?, ?, ?, ?, ?, ?)`);
  const many = db.prepare(
    `${COLUMNS}${Array.from({ length: ROWS_PER_STATEMENT }, () => "(?, ?, ?, ?, ?, ?)").join(", ")}`,
  );
  const params: unknown[] = new Array(ROWS_PER_STATEMENT * 6);
  return db.transaction((batch: UsageEvent[]) => {
    const mark = hooks?.before() ?? 0;
    let inserted = 0;
    let i = 0;
    for (; i + ROWS_PER_STATEMENT <= batch.length; i += ROWS_PER_STATEMENT) {
      for (let j = 0; j < ROWS_PER_STATEMENT; j++) {
        const e = batch[i + j] as UsageEvent;
        const k = j * 6;
        params[k] = e.id;
        params[k + 1] = e.type;
        params[k + 2] = e.customer;
        params[k + 3] = e.ts;
        params[k + 4] = e.value;
        params[k + 5] = e.properties;
      }
      // Spread, not the array: better-sqlite3 reads an array's elements one property lookup at a time.
      inserted += many.run(...params).changes;
    }
    for (; i < batch.length; i++) {
      const e = batch[i] as UsageEvent;
      inserted += one.run(e.id, e.type, e.customer, e.ts, e.value, e.properties).changes;
    }
    if (inserted > 0) hooks?.after(mark);
    return inserted;
  });
}

/**
 * Does the store hold any event in the window? One index seek per distinct
 * event type (a recursive walk of the (type, ts) index), not a table scan.
 */
export function hasEventsIn(db: Db, window: Window): boolean {
  const row = db
    .prepare(
      `WITH RECURSIVE types(type) AS (
         SELECT MIN(type) FROM events
         UNION ALL
         SELECT (SELECT MIN(type) FROM events WHERE type > types.type) FROM types WHERE types.type IS NOT NULL
       )
       SELECT EXISTS (
         SELECT 1 FROM types JOIN events ON events.type = types.type AND events.ts >= ? AND events.ts < ?
       ) AS found`,
    )
    .get(window.start, window.end) as { found: number };
  return row.found === 1;
}

export function setPlan(
  db: Db,
  customer: string,
  plan: string,
  at: number,
  recordedAt: number,
  addOns: readonly string[] = [],
): void {
  db.prepare(
    "INSERT OR REPLACE INTO subscriptions (customer, effective_at, plan, recorded_at, add_ons) VALUES (?, ?, ?, ?, ?)",
  ).run(customer, at, plan, recordedAt, encodeAddOns(addOns));
}

export function setPlans(db: Db, rows: SubscriptionRow[], recordedAt: number): void {
  db.transaction(() => {
    for (const r of rows) setPlan(db, r.customer, r.plan, r.at, recordedAt, r.addOns);
  })();
}

/** Every customer's plan history, oldest first. */
export function planHistory(db: Db): Map<string, SubscriptionRow[]> {
  const out = new Map<string, SubscriptionRow[]>();
  const rows = db
    .prepare(
      "SELECT customer, effective_at AS at, plan, add_ons AS addOns FROM subscriptions ORDER BY customer, effective_at",
    )
    .all() as (Omit<SubscriptionRow, "addOns"> & { addOns: string })[];
  for (const r of rows) {
    const list = out.get(r.customer) ?? [];
    list.push(withAddOns(r));
    out.set(r.customer, list);
  }
  return out;
}

/** JSON path of a property name, quoted so dots and spaces in names are literal. */
export function jsonPath(name: string): string {
  return `'$."${name.replaceAll("'", "''").replaceAll('"', '\\"')}"'`;
}

function valueExpr(meter: CompiledMeter): string {
  return meter.property ? `json_extract(properties, ${jsonPath(meter.property)})` : "value";
}

let bucketSeq = 0;

/** One pass over the meter's events in the window, grouped in SQL. */
export function aggregateMeter(db: Db, spec: AggregateSpec): AggregateRow[] {
  const { meter } = spec;
  if (meter.aggregation === "time_weighted") return timeWeightedRows(db, spec);
  const params: (string | number)[] = [...meter.events, spec.window.start, spec.window.end];
  const where = [`type IN (${meter.events.map(() => "?").join(", ")})`, "ts >= ?", "ts < ?"];
  for (const [key, values] of Object.entries(meter.where)) {
    where.push(`json_extract(properties, ${jsonPath(key)}) IN (${values.map(() => "?").join(", ")})`);
    params.push(...values.map(sqlValue));
  }
  if (spec.customers) {
    where.push(`customer IN (${spec.customers.map(() => "?").join(", ")})`);
    params.push(...spec.customers);
  }
  let bucketExpr = "0";
  if (spec.buckets && spec.buckets.length > 1) {
    const starts = spec.buckets;
    const fn = `limitr_bucket_${++bucketSeq}`;
    db.function(fn, { deterministic: true }, (ts: unknown) => bucketOf(starts, Number(ts)));
    bucketExpr = `${fn}(ts)`;
  }
  const v = valueExpr(meter);
  let dim = spec.dimension ? `json_extract(properties, ${jsonPath(spec.dimension)})` : "NULL";
  let q: string;
  switch (meter.aggregation) {
    case "sum":
      q = `SUM(${v})`;
      break;
    case "count":
      q = `SUM(${COUNT_WEIGHT_SQL})`;
      break;
    case "max":
      q = `MAX(${v})`;
      break;
    case "latest":
      // Picked by a window function below.
      q = v;
      break;
    case "unique_count":
      if (spec.distinctValues) {
        dim = v;
        q = "NULL";
      } else q = `COUNT(DISTINCT ${v})`;
      break;
  }
  const sql =
    meter.aggregation === "latest"
      ? // The value of the greatest (ts, seq): ties in time go to the later-recorded event, as in bills.
        "SELECT customer, bucket, dim, q, n, t FROM (SELECT customer, bucket, dim, q, COUNT(*) OVER w AS n, MAX(ts) OVER w AS t, " +
        "ROW_NUMBER() OVER (PARTITION BY customer, bucket, dim ORDER BY ts DESC, seq DESC) AS rn " +
        `FROM (SELECT customer, ${bucketExpr} AS bucket, ${dim} AS dim, ${v} AS q, ts, seq FROM events WHERE ${where.join(" AND ")}) ` +
        "WINDOW w AS (PARTITION BY customer, bucket, dim)) WHERE rn = 1"
      : `SELECT customer, ${bucketExpr} AS bucket, ${dim} AS dim, ${q} AS q, COUNT(*) AS n, MAX(ts) AS t ` +
        `FROM events WHERE ${where.join(" AND ")} GROUP BY customer, bucket, dim`;
  return db.prepare(sql).all(...params) as AggregateRow[];
}

/** Index of the last bucket start <= ts (binary search). */
export function bucketOf(starts: number[], ts: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= ts) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function setStripeCustomer(db: Db, customer: string, stripeId: string): void {
  db.prepare("INSERT OR REPLACE INTO stripe_customers (customer, stripe_id) VALUES (?, ?)").run(
    customer,
    stripeId,
  );
}

export function stripeCustomers(db: Db): Map<string, string> {
  const rows = db.prepare("SELECT customer, stripe_id FROM stripe_customers").all() as {
    customer: string;
    stripe_id: string;
  }[];
  return new Map(rows.map((r) => [r.customer, r.stripe_id]));
}

/**
 * `time_weighted` usage per customer and bucket: the readings of the window
 * (and the last one before it, which holds into it) integrated over each
 * bucket's span (see `integrateReadings`). Not split by dimension.
 */
function timeWeightedRows(db: Db, spec: AggregateSpec): AggregateRow[] {
  const latest = { ...spec.meter, aggregation: "latest" as const };
  const carry = new Map<string, number>();
  for (const row of aggregateMeter(db, {
    meter: latest,
    window: { start: LIFETIME.start, end: spec.window.start },
    ...(spec.customers ? { customers: spec.customers } : {}),
  }))
    if (row.q !== null) carry.set(row.customer, Number(row.q));
  const m = spec.meter;
  const params: (string | number)[] = [...m.events, spec.window.start, spec.window.end];
  const where = [`type IN (${m.events.map(() => "?").join(", ")})`, "ts >= ?", "ts < ?"];
  for (const [key, values] of Object.entries(m.where)) {
    where.push(`json_extract(properties, ${jsonPath(key)}) IN (${values.map(() => "?").join(", ")})`);
    params.push(...values.map(sqlValue));
  }
  if (spec.customers) {
    where.push(`customer IN (${spec.customers.map(() => "?").join(", ")})`);
    params.push(...spec.customers);
  }
  const rows = db
    .prepare(
      `SELECT customer, ts, ${valueExpr(m)} AS v FROM events WHERE ${where.join(" AND ")} ORDER BY ts, seq`,
    )
    .all(...params) as { customer: string; ts: number; v: unknown }[];
  const byCustomer = new Map<string, [number, number][]>();
  for (const r of rows) {
    const v = Number(r.v);
    if (r.v === null || !Number.isFinite(v)) continue;
    let list = byCustomer.get(r.customer);
    if (!list) byCustomer.set(r.customer, (list = []));
    list.push([r.ts, v]);
  }
  for (const c of carry.keys()) if (!byCustomer.has(c)) byCustomer.set(c, []);
  const starts = spec.buckets && spec.buckets.length > 0 ? spec.buckets : [spec.window.start];
  const out: AggregateRow[] = [];
  for (const [customer, readings] of byCustomer) {
    for (let b = 0; b < starts.length; b++) {
      const start = Math.max(starts[b] as number, spec.window.start);
      const end = Math.min(starts[b + 1] ?? spec.window.end, spec.window.end);
      const q = integrateReadings(readings, carry.get(customer) ?? null, start, end, m.unitTime ?? "hour");
      const n = readings.filter(([ts]) => ts >= start && ts < end).length;
      out.push({ customer, bucket: b, dim: null, q: q.toNumber(), n, t: end });
    }
  }
  return out;
}
