import type pg from "pg";
import { UsageError } from "../../../core/errors.js";
import type { CompiledMeter, CompiledPolicy } from "../../../core/model.js";
import type { Window } from "../../../core/periods.js";
import { costDimension } from "../../../core/usage/meters.js";
import type { AggregateRow, AggregateSpec, FirstEvents } from "../../../core/usage/store-port.js";
import { type DailyData, type DayCell, dayStarts } from "../bill-usage.js";
import { COUNT_WEIGHT, dimension, distinctValue, meterRows, numericValue, Params } from "./sql.js";

/**
 * The aggregations of `bill`, `usage query`, `alerts check` and `simulate`
 * as GROUP BY queries: Postgres returns one row per (customer, day or
 * bucket, dimension), never the events.
 */

/** Index of the bucket (sorted start times) a timestamp falls in, 0 below the first. */
function bucketSql(starts: number[], p: Params): string {
  return `GREATEST(width_bucket(ts, ${p.add(starts)}::bigint[]) - 1, 0)`;
}

/** The aggregate of a meter over a group (`latest`: the value of the group's last event). */
function quantity(meter: CompiledMeter): string {
  const v = numericValue(meter);
  switch (meter.aggregation) {
    case "sum":
      return `SUM(${v})`;
    case "count":
      return `SUM(${COUNT_WEIGHT})`;
    case "max":
      return `MAX(${v})`;
    case "latest":
      return `(array_agg(${v} ORDER BY ts DESC, seq DESC))[1]`;
    case "unique_count":
      return `COUNT(DISTINCT ${distinctValue(meter)})::float8`;
    case "time_weighted":
      throw new UsageError(
        `meter ${meter.id}: time_weighted aggregation is not supported on the Postgres store yet; use the SQLite store`,
      );
  }
}

export async function aggregateMeter(pool: pg.Pool, spec: AggregateSpec): Promise<AggregateRow[]> {
  const { meter } = spec;
  const p = new Params();
  let where = meterRows(meter, spec.window.start, spec.window.end, p);
  if (spec.customers) where += ` AND customer = ANY(${p.add(spec.customers)}::text[])`;
  const bucket = spec.buckets && spec.buckets.length > 1 ? bucketSql(spec.buckets, p) : "0";
  let dim = spec.dimension ? dimension(spec.dimension) : "NULL::text";
  let q = quantity(meter);
  if (meter.aggregation === "unique_count" && spec.distinctValues) {
    dim = distinctValue(meter);
    q = "NULL::float8";
  }
  const sql =
    `SELECT customer, ${bucket} AS bucket, ${dim} AS dim, ${q} AS q, COUNT(*) AS n, MAX(ts) AS t ` +
    `FROM events WHERE ${where} GROUP BY 1, 2, 3`;
  const r = await pool.query<AggregateRow>(sql, p.values);
  return r.rows;
}

interface DayRow {
  customer: string;
  day: number;
  dim: string | null;
  n: number;
  t: number | null;
  /** q0, q1, ... (and t0, ... for max and latest): one per meter of the scan. */
  [column: string]: unknown;
}

function newCell(meter: CompiledMeter): DayCell {
  return {
    q: 0,
    n: 0,
    t: Number.NEGATIVE_INFINITY,
    byDim: new Map(),
    values: meter.aggregation === "unique_count" ? new Set() : null,
    readings: null,
  };
}

/**
 * Daily cells in the period of meters that read the same rows (same event
 * types, filter and cost dimension): one query, one aggregate column per
 * meter. Sums and counts are split by the cost dimension; max and latest
 * are per day; unique_count keeps the distinct values of each day (a window
 * longer than a day counts a value once).
 */
async function meterDays(pool: pg.Pool, meters: CompiledMeter[], period: Window, days: number[]) {
  const first = meters[0] as CompiledMeter;
  const p = new Params();
  const where = meterRows(first, period.start, period.end, p);
  const day = bucketSql(days, p);
  const cost = costDimension(first);
  const columns = meters.map((meter, i): string => {
    const v = numericValue(meter);
    switch (meter.aggregation) {
      case "sum":
      case "count":
        return `SUM(${meter.aggregation === "sum" ? v : COUNT_WEIGHT}) AS q${i}`;
      case "max":
        return `MAX(${v}) AS q${i}, MAX(ts) FILTER (WHERE ${v} IS NOT NULL) AS t${i}`;
      case "latest":
        return (
          `(array_agg(${v} ORDER BY ts DESC, seq DESC) FILTER (WHERE ${v} IS NOT NULL))[1] AS q${i}, ` +
          `MAX(ts) FILTER (WHERE ${v} IS NOT NULL) AS t${i}`
        );
      default:
        return `NULL::float8 AS q${i}`;
    }
  });
  const dim =
    first.aggregation === "unique_count"
      ? distinctValue(first)
      : (first.aggregation === "sum" || first.aggregation === "count") && cost
        ? dimension(cost)
        : "NULL::text";
  const sql =
    `SELECT customer, ${day} AS day, ${dim} AS dim, ${columns.join(", ")}, MAX(ts) AS t, COUNT(*) AS n ` +
    `FROM events WHERE ${where} GROUP BY 1, 2, 3`;
  const out = meters.map(() => new Map<string, DayCell[]>());
  for (const r of (await pool.query<DayRow>(sql, p.values)).rows) {
    meters.forEach((meter, i) => {
      const cells = out[i] as Map<string, DayCell[]>;
      let perDay = cells.get(r.customer);
      if (!perDay) cells.set(r.customer, (perDay = []));
      const cell = (perDay[r.day] ??= newCell(meter));
      cell.n += r.n;
      if (cell.values) {
        if (r.dim !== null) cell.values.add(r.dim);
        return;
      }
      const t = (r[`t${i}`] as number | null | undefined) ?? r.t;
      if (t !== null && t > cell.t) cell.t = t;
      const q = r[`q${i}`] as number | null;
      if (q === null) return;
      cell.q += q;
      if (meter.aggregation === "sum" || meter.aggregation === "count") {
        const key = r.dim ?? "";
        cell.byDim.set(key, (cell.byDim.get(key) ?? 0) + q);
      }
    });
  }
  return out;
}

/** Meters whose rows are the same (sums and counts with one filter and cost dimension) share a query. */
function sharedScans(meters: CompiledMeter[]): CompiledMeter[][] {
  const groups = new Map<string, CompiledMeter[]>();
  for (const m of meters) {
    const key =
      m.aggregation === "sum" || m.aggregation === "count"
        ? JSON.stringify([[...new Set(m.events)].sort(), m.where, costDimension(m)])
        : `\u0000${m.id}`;
    const group = groups.get(key) ?? [];
    group.push(m);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** Every meter's daily cells in the period; the scans run concurrently on the pool's connections. */
export async function dailyData(pool: pg.Pool, policy: CompiledPolicy, period: Window): Promise<DailyData> {
  const days = dayStarts(period, policy.timezone);
  const meters = Object.values(policy.meters);
  const data: DailyData = new Map();
  for (const m of meters) data.set(m.id, new Map());
  if (days.length === 0) return data;
  const scans = sharedScans(meters);
  const parts = await Promise.all(scans.map((group) => meterDays(pool, group, period, days)));
  scans.forEach((group, g) => {
    group.forEach((m, i) => {
      data.set(m.id, parts[g]?.[i] as Map<string, DayCell[]>);
    });
  });
  return data;
}

/** The first `n` events of each (customer, day), by (ts, id) in byte order as SQLite compares ids. */
export async function firstEvents(
  pool: pg.Pool,
  meter: CompiledMeter,
  period: Window,
  days: number[],
  n: number,
): Promise<FirstEvents> {
  const p = new Params();
  const where = meterRows(meter, period.start, period.end, p);
  const day = bucketSql(days, p);
  const value = meter.aggregation === "count" ? COUNT_WEIGHT : numericValue(meter);
  const sql =
    `SELECT customer, day, ts, id, v FROM (SELECT customer, ${day} AS day, ts, id, ${value} AS v, ` +
    `ROW_NUMBER() OVER (PARTITION BY customer, ${day} ORDER BY ts, id COLLATE "C") AS rn ` +
    `FROM events WHERE ${where}) first WHERE rn <= ${p.add(n)}`;
  const out: FirstEvents = new Map();
  const rows = await pool.query<{ customer: string; day: number; ts: number; id: string; v: number | null }>(
    sql,
    p.values,
  );
  for (const r of rows.rows) {
    let perDay = out.get(r.customer);
    if (!perDay) out.set(r.customer, (perDay = []));
    (perDay[r.day] ??= []).push({ ts: r.ts, id: r.id, v: r.v !== null && Number.isFinite(r.v) ? r.v : 0 });
  }
  return out;
}

/** Is there any event in the window? One index probe per distinct type (a skip scan), not a table scan. */
export async function hasEventsIn(pool: pg.Pool, window: Window): Promise<boolean> {
  const r = await pool.query<{ found: boolean }>(
    `WITH RECURSIVE types(type) AS (
       SELECT MIN(type) FROM events
       UNION ALL
       SELECT (SELECT MIN(type) FROM events WHERE type > types.type) FROM types WHERE types.type IS NOT NULL
     )
     SELECT EXISTS (
       SELECT 1 FROM types WHERE types.type IS NOT NULL AND EXISTS (
         SELECT 1 FROM events WHERE events.type = types.type AND events.ts >= $1 AND events.ts < $2)
     ) AS found`,
    [window.start, window.end],
  );
  return r.rows[0]?.found === true;
}
