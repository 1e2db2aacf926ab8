import type pg from "pg";
import { UsageError } from "../../../core/errors.js";
import type { CompiledMeter, CompiledPolicy } from "../../../core/model.js";
import type { Window } from "../../../core/periods.js";
import { costDimension } from "../../../core/usage/meters.js";
import type { AggregateRow, AggregateSpec, FirstEvents } from "../../../core/usage/store-port.js";
import { type DailyData, type DayCell, dayStarts } from "../bill-usage.js";
import type { LayoutReader } from "./layouts.js";
import {
  COUNT_WEIGHT,
  clamp,
  dimension,
  distinctValue,
  meterRows,
  numericValue,
  Params,
  whereConditions,
} from "./sql.js";

/**
 * The aggregations of `bill`, `usage query`, `alerts check` and `simulate`
 * as GROUP BY queries: Postgres returns one row per (customer, day or
 * bucket, dimension), never the events.
 */

/**
 * Settings of an aggregation's transaction. The planner cannot estimate the
 * groups of (customer, day, dimension) and guesses a group per row: with the
 * default 4 MB of work_mem, or whenever it costs the hash table at a group
 * per row, it sorts every row (spilling to disk) instead of hashing the few
 * groups, so `hash` turns sorting off and work_mem is raised to 64 MB (never
 * lowered from a larger setting; a larger hash table spills to disk, it does
 * not fail). JIT compiling costs about half a second per query, more than a
 * whole month of a small store takes to aggregate.
 */
function settings(hash: boolean): string {
  const mem =
    "CASE WHEN pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('64MB') THEN '64MB' ELSE current_setting('work_mem') END";
  const out = [`set_config('work_mem', ${mem}, true)`, "set_config('jit', 'off', true)"];
  if (hash) out.push("set_config('enable_sort', 'off', true)");
  return `SELECT ${out.join(", ")}`;
}

async function grouped<T extends pg.QueryResultRow>(
  pool: pg.Pool,
  sql: string,
  values: unknown[],
  hash = true,
): Promise<T[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN READ ONLY");
    await client.query(settings(hash));
    const rows = (await client.query<T>(sql, values)).rows;
    await client.query("COMMIT");
    return rows;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Index of the bucket (sorted start times) a timestamp falls in, 0 below the
 * first. Buckets of one length (days without a DST change) are a division;
 * others a binary search over the starts.
 */
function bucketSql(starts: number[], p: Params): string {
  const first = starts[0] as number;
  const step = (starts[1] as number) - first;
  const even = step > 0 && Number.isSafeInteger(step) && starts.every((s, i) => s === first + i * step);
  if (even)
    return `LEAST(GREATEST((ts - ${p.add(first)}::bigint) / ${p.add(step)}::bigint, 0), ${starts.length - 1})`;
  return `GREATEST(width_bucket(ts, ${p.add(starts)}::bigint[]) - 1, 0)`;
}

/** The aggregate of a meter over a group (`latest`: the value of the group's last event). */
function quantity(meter: CompiledMeter, read: LayoutReader): string {
  const v = numericValue(meter, read);
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
      return `COUNT(DISTINCT ${distinctValue(meter, read)})::float8`;
    case "time_weighted":
      throw new UsageError(
        `meter ${meter.id}: time_weighted aggregation is not supported on the Postgres store yet; use the SQLite store`,
      );
  }
}

export async function aggregateMeter(
  pool: pg.Pool,
  read: LayoutReader,
  spec: AggregateSpec,
): Promise<AggregateRow[]> {
  const { meter } = spec;
  const p = new Params();
  let where = meterRows(meter, spec.window.start, spec.window.end, p);
  if (spec.customers) where += ` AND customer = ANY(${p.add(spec.customers)}::text[])`;
  const bucket = spec.buckets && spec.buckets.length > 1 ? bucketSql(spec.buckets, p) : "0";
  let dim = spec.dimension ? dimension(meter, spec.dimension, read) : "NULL::text";
  let q = quantity(meter, read);
  if (meter.aggregation === "unique_count" && spec.distinctValues) {
    dim = distinctValue(meter, read);
    q = "NULL::float8";
  }
  const sql =
    `SELECT customer, ${bucket} AS bucket, ${dim} AS dim, ${q} AS q, COUNT(*) AS n, MAX(ts) AS t ` +
    `FROM events WHERE ${where} GROUP BY 1, 2, 3`;
  return grouped<AggregateRow>(pool, sql, p.values);
}

interface DayRow {
  customer: string;
  day: number;
  type: string;
  dim: string | null;
  /** c0, c1, ...: the scan's aggregate columns (`Columns`). */
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

/** A scan: meters read in one pass, and what each event type's rows are grouped by. */
interface Scan {
  meters: CompiledMeter[];
  /** Per type: a property (`p:NAME`), the event's value (`v`), or one group per customer and day (`-`). */
  dims: Map<string, string>;
}

/**
 * What a meter needs its rows of `type` grouped by: a cost dimension (sums,
 * counts) or the counted value (unique_count); null for one group per day
 * (max, latest: their per-day value cannot be recombined from groups);
 * undefined when any grouping will do (sums and counts without a cost
 * dimension add their groups up).
 */
function dimOf(meter: CompiledMeter): string | undefined {
  const cost = costDimension(meter);
  switch (meter.aggregation) {
    case "sum":
    case "count":
      return cost ? `p:${cost}` : undefined;
    case "unique_count":
      return meter.property ? `p:${meter.property}` : "v";
    default:
      return "-";
  }
}

/**
 * One pass over the period's events for as many meters as can share it:
 * meters whose groupings agree on every event type they read. The example
 * policy's eight meters are one scan; a second cost dimension on the same
 * event type (or a max and a unique_count of one type) starts another.
 */
function scansOf(meters: CompiledMeter[]): Scan[] {
  const scans: Scan[] = [];
  for (const meter of meters) {
    const wants = meter.events.map((type) => [type, dimOf(meter)] as const);
    const fits = (scan: Scan) =>
      wants.every(([type, dim]) => dim === undefined || !scan.dims.has(type) || scan.dims.get(type) === dim);
    let scan = scans.find(fits);
    if (!scan) scans.push((scan = { meters: [], dims: new Map() }));
    scan.meters.push(meter);
    for (const [type, dim] of wants) if (dim !== undefined) scan.dims.set(type, dim);
  }
  return scans;
}

/** A scan's aggregate columns, each computed once however many meters read it. */
class Columns {
  private readonly aliases = new Map<string, string>();

  /** The alias of an aggregate expression (added on first use). */
  add(expr: string): string {
    let alias = this.aliases.get(expr);
    if (alias === undefined) this.aliases.set(expr, (alias = `c${this.aliases.size}`));
    return alias;
  }

  sql(): string {
    return [...this.aliases].map(([expr, alias]) => `${expr} AS ${alias}`).join(", ");
  }
}

/** Where each meter's figures are in a scan's rows. */
interface MeterColumns {
  q: string | null;
  n: string;
  /** Latest event with a value (max, latest), else `all`. */
  t: string | null;
  all: string;
  /** latest: the seq of the event whose value `q` is (ties of `t` across rows). */
  seq?: string;
}

/**
 * Daily cells in the period of a scan's meters: one pass, GROUP BY customer,
 * day, event type and the type's group expression; per meter, aggregates of
 * its value (`CASE type`: each type reads it from its own column or the
 * JSON) over its rows (`FILTER` by its `where`, if any). A row counts for
 * the meters of its type. Sums and counts are split by the cost dimension;
 * max and latest are per day; unique_count keeps the distinct values of each
 * day (a window longer than a day counts a value once).
 */
async function meterDays(pool: pg.Pool, read: LayoutReader, scan: Scan, period: Window, days: number[]) {
  const { meters } = scan;
  const p = new Params();
  const types = [...new Set(meters.flatMap((m) => m.events))].sort();
  const where = `type = ANY(${p.add(types)}::text[]) AND ts >= ${p.add(clamp(period.start))} AND ts < ${p.add(clamp(period.end))}`;
  const day = bucketSql(days, p);
  const cols = new Columns();
  const placed = meters.map((meter): MeterColumns => {
    // The type test first: the filter's JSON is then read only on the meter's own rows.
    const where = whereConditions(meter);
    const conds = where.length > 0 ? [`type = ANY(${p.add(meter.events)}::text[])`, ...where] : [];
    const own = conds.length > 0 ? ` FILTER (WHERE ${conds.join(" AND ")})` : "";
    const n = cols.add(`COUNT(*)${own}`);
    const all = cols.add(`MAX(ts)${own}`);
    const v = meter.property
      ? read.perType("numbers", new Map(meter.events.map((type) => [type, meter.property])))
      : "value";
    const valued = ` FILTER (WHERE ${[...conds, `${v} IS NOT NULL`].join(" AND ")})`;
    switch (meter.aggregation) {
      case "sum":
        return { q: cols.add(`SUM(${v})${own}`), n, t: null, all };
      case "count":
        return { q: cols.add(`SUM(${COUNT_WEIGHT})${own}`), n, t: null, all };
      case "max":
        return { q: cols.add(`MAX(${v})${own}`), n, t: cols.add(`MAX(ts)${valued}`), all };
      case "latest":
        return {
          q: cols.add(`(array_agg(${v} ORDER BY ts DESC, seq DESC)${valued})[1]`),
          n,
          t: cols.add(`MAX(ts)${valued}`),
          all,
          seq: cols.add(`(array_agg(seq ORDER BY ts DESC, seq DESC)${valued})[1]`),
        };
      default:
        return { q: null, n, t: null, all };
    }
  });
  const keyed = [...scan.dims].filter(([, dim]) => dim !== "-");
  const dim =
    keyed.length === 0
      ? "NULL::text"
      : read.perType("texts", new Map(keyed.map(([type, d]) => [type, d === "v" ? null : d.slice(2)])));
  const sql =
    `SELECT customer, ${day} AS day, type, ${dim} AS dim, ${cols.sql()} ` +
    `FROM events WHERE ${where} GROUP BY 1, 2, 3, 4`;
  const out = meters.map(() => new Map<string, DayCell[]>());
  // Rows of several types (or dimension values) may make one day of a max or latest meter.
  const valued = new Map<DayCell, [number, number]>();
  const ofType = new Map(
    types.map((type) => [type, meters.flatMap((m, i) => (m.events.includes(type) ? [i] : []))]),
  );
  for (const r of await grouped<DayRow>(pool, sql, p.values)) {
    for (const i of ofType.get(r.type) ?? []) {
      const meter = meters[i] as CompiledMeter;
      const c = placed[i] as MeterColumns;
      const n = r[c.n] as number;
      if (n === 0) continue;
      const cells = out[i] as Map<string, DayCell[]>;
      let perDay = cells.get(r.customer);
      if (!perDay) cells.set(r.customer, (perDay = []));
      const cell = (perDay[r.day] ??= newCell(meter));
      cell.n += n;
      if (cell.values) {
        if (r.dim !== null) cell.values.add(r.dim);
        continue;
      }
      const q = c.q === null ? null : (r[c.q] as number | null);
      const before = valued.get(cell);
      if (c.t !== null) {
        // max, latest: the cell's time is its latest event with a value, else its latest event.
        const vt = r[c.t] as number | null;
        if (vt !== null) cell.t = before === undefined ? vt : Math.max(cell.t, vt);
        else if (before === undefined) cell.t = Math.max(cell.t, r[c.all] as number);
      } else cell.t = Math.max(cell.t, r[c.all] as number);
      if (q === null) continue;
      if (meter.aggregation === "max" || meter.aggregation === "latest") {
        const at: [number, number] = [r[c.t as string] as number, c.seq ? (r[c.seq] as number) : 0];
        const wins =
          before === undefined ||
          (meter.aggregation === "max"
            ? q > cell.q
            : at[0] > before[0] || (at[0] === before[0] && at[1] > before[1]));
        if (wins) {
          cell.q = q;
          valued.set(cell, at);
        }
      } else {
        cell.q += q;
        const key = costDimension(meter) ? (r.dim ?? "") : "";
        cell.byDim.set(key, (cell.byDim.get(key) ?? 0) + q);
      }
    }
  }
  return out;
}

/** Every meter's daily cells in the period; the scans run concurrently on the pool's connections. */
export async function dailyData(
  pool: pg.Pool,
  read: LayoutReader,
  policy: CompiledPolicy,
  period: Window,
): Promise<DailyData> {
  const days = dayStarts(period, policy.timezone);
  const meters = Object.values(policy.meters);
  const data: DailyData = new Map();
  for (const m of meters) data.set(m.id, new Map());
  if (days.length === 0) return data;
  const scans = scansOf(meters);
  const parts = await Promise.all(scans.map((scan) => meterDays(pool, read, scan, period, days)));
  scans.forEach((scan, g) => {
    scan.meters.forEach((m, i) => {
      data.set(m.id, parts[g]?.[i] as Map<string, DayCell[]>);
    });
  });
  return data;
}

/** The first `n` events of each (customer, day), by (ts, id) in byte order as SQLite compares ids. */
export async function firstEvents(
  pool: pg.Pool,
  read: LayoutReader,
  meter: CompiledMeter,
  period: Window,
  days: number[],
  n: number,
): Promise<FirstEvents> {
  const p = new Params();
  const where = meterRows(meter, period.start, period.end, p);
  const day = bucketSql(days, p);
  const value = meter.aggregation === "count" ? COUNT_WEIGHT : numericValue(meter, read);
  const sql =
    `SELECT customer, day, ts, id, v FROM (SELECT customer, ${day} AS day, ts, id, ${value} AS v, ` +
    `ROW_NUMBER() OVER (PARTITION BY customer, ${day} ORDER BY ts, id COLLATE "C") AS rn ` +
    `FROM events WHERE ${where}) first WHERE rn <= ${p.add(n)}`;
  const out: FirstEvents = new Map();
  const rows = await grouped<{ customer: string; day: number; ts: number; id: string; v: number | null }>(
    pool,
    sql,
    p.values,
    false,
  );
  for (const r of rows) {
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
