import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ratingMeters } from "../../core/credits/rating.js";
import type { Aggregation, CompiledMeter, CompiledPolicy, PropertyValue } from "../../core/model.js";
import { type Decimal, dec, ZERO } from "../../core/money.js";
import { calendarWindow, type Window } from "../../core/periods.js";
import type { UsageAmount, UsageWindow } from "../../core/rating/invoice.js";
import { COUNT_WEIGHT_SQL, costDimension, sqlValue } from "../../core/usage/meters.js";
import type { DailyUsage } from "../../core/usage/store-port.js";
import { type CarriedReadings, carriedReadings, timeWeighted } from "./bill-time-weighted.js";
import type { Db } from "./database.js";

export type { DailyUsage };

import { bucketOf, jsonPath } from "./usage-store.js";

/**
 * Usage for a bill: every meter's quantity per (customer, day, cost
 * dimension), read in one pass over the period's events per set of event
 * types. Every rating window is a whole number of days in the policy timezone
 * (plan changes take effect at day starts), so any window is answered exactly
 * from the daily cells; unique_count keeps the distinct values per day so a
 * longer window counts each value once (also across a pooled account).
 *
 * The pass feeds rows to an aggregate function instead of a SQL GROUP BY:
 * grouping 10M rows makes SQLite sort them, while the fold is linear and its
 * state is only (customers x days x dimensions).
 */
export interface DayCell {
  /**
   * sum / count: the sum of the values' integer parts (exact up to 2^53), their
   * fractional parts being kept apart in `f`; max / latest: the value.
   */
  q: number;
  /** sum / count: the sum of the values' fractional parts in units of 10^-9 (exact, order-independent). */
  f?: number;
  /** `f` per dimension value (only values that had a fractional part). */
  byDimF?: Map<string, number>;
  n: number;
  /** Latest event time in the cell with a numeric value (for `latest`); -Infinity when none. */
  t: number;
  /** `latest`: seq of the event whose value `q` is (ties at the same `t` go to the later-recorded event). */
  s?: number;
  byDim: Map<string, number>;
  values: Set<string> | null;
  /** `time_weighted`: the day's readings as flat [ts, value, ts, value, ...] pairs, in scan order. */
  readings: number[] | null;
}

export function dayStarts(period: Window, zone: string): number[] {
  const out: number[] = [];
  for (let t = period.start; t < period.end; t = calendarWindow("day", t, zone).end) out.push(t);
  return out;
}

let aggregateSeq = 0;

/** How one event type feeds its meters: slot index of each expression (-1 = constant). */
interface TypePlan {
  meters: { meter: CompiledMeter; cells: Map<string, DayCell[]>; where: number; dim: number; val: number }[];
  exprs: string[];
}

export function literal(v: string | number | boolean): string {
  const x = sqlValue(v);
  return typeof x === "number" ? String(x) : `'${x.replaceAll("'", "''")}'`;
}

/**
 * The SQL a meter's fold reads per event: its `where` filter (null: none),
 * its dimension and its value. Bills, rollups and their maintenance all fold
 * the same expressions, so they agree on every event.
 */
export function foldExprs(
  where: [string, PropertyValue[]][],
  aggregation: Aggregation,
  property: string | null,
  dim: string | null,
): { where: string | null; dim: string | null; val: string } {
  const conds = where.map(
    ([k, values]) => `json_extract(properties, ${jsonPath(k)}) IN (${values.map(literal).join(", ")})`,
  );
  return {
    where: conds.length ? conds.join(" AND ") : null,
    dim: dim ? `json_extract(properties, ${jsonPath(dim)})` : null,
    val:
      aggregation === "count"
        ? COUNT_WEIGHT_SQL
        : property
          ? `json_extract(properties, ${jsonPath(property)})`
          : "value",
  };
}

/**
 * One CASE column per slot: slot k of a row is the k-th expression of its own
 * event type's plan.
 */
export function slotColumns(plans: Map<string, { exprs: string[] }>): string[] {
  const slots = Math.max(0, ...[...plans.values()].map((p) => p.exprs.length));
  const columns: string[] = [];
  for (let k = 0; k < slots; k++) {
    const whens = [...plans]
      .filter(([, p]) => p.exprs[k] !== undefined)
      .map(([t, p]) => `WHEN ${literal(t)} THEN ${p.exprs[k]}`);
    columns.push(`CASE type ${whens.join(" ")} END`);
  }
  return columns;
}

/**
 * Per event type, the distinct expressions its meters need (filter, cost
 * dimension, value); each becomes a "slot" column of the single pass, so a
 * row only pays for the JSON paths of its own type.
 */
function planTypes(
  meters: CompiledMeter[],
  data: Map<string, Map<string, DayCell[]>>,
): Map<string, TypePlan> {
  const plans = new Map<string, TypePlan>();
  for (const meter of meters) {
    for (const type of new Set(meter.events)) {
      let plan = plans.get(type);
      if (!plan) plans.set(type, (plan = { meters: [], exprs: [] }));
      const slot = (expr: string | null): number => {
        if (expr === null) return -1;
        const i = plan.exprs.indexOf(expr);
        return i >= 0 ? i : plan.exprs.push(expr) - 1;
      };
      const e = foldExprs(
        Object.entries(meter.where),
        meter.aggregation,
        meter.property,
        meter.aggregation === "unique_count" ? null : costDimension(meter),
      );
      plan.meters.push({
        meter,
        cells: data.get(meter.id) as Map<string, DayCell[]>,
        where: slot(e.where),
        dim: slot(e.dim),
        val: slot(e.val),
      });
    }
  }
  return plans;
}

/**
 * Estimated share of the store's events inside the window, and their number,
 * from a few rows sampled by rowid (events are appended roughly in time order).
 */
function periodShare(db: Db, period: Window): { share: number; rows: number } {
  const max = (db.prepare("SELECT MAX(seq) FROM events").pluck().get() as number | null) ?? 0;
  if (max === 0) return { share: 0, rows: 0 };
  const at = db.prepare("SELECT ts FROM events WHERE seq >= ? ORDER BY seq LIMIT 1").pluck();
  let inside = 0;
  const samples = 32;
  for (let i = 0; i < samples; i++) {
    const ts = at.get(Math.floor(((i + 0.5) * max) / samples)) as number | undefined;
    if (ts !== undefined && ts >= period.start && ts < period.end) inside++;
  }
  return { share: inside / samples, rows: (inside / samples) * max };
}

export type DailyData = Map<string, Map<string, DayCell[]>>;

/**
 * Fold the events of days [from, to) of the period into daily cells. With
 * `fullScan`, the table is read sequentially (best when the period is a large
 * share of the store); otherwise through the (type, ts) index.
 */
export function scanDays(
  db: Db,
  policy: CompiledPolicy,
  period: Window,
  from: number,
  to: number,
  fullScan: boolean,
  /** Only these meters (ids of `ratingMeters`); all when absent. */
  only?: readonly string[],
): DailyData {
  const days = dayStarts(period, policy.timezone);
  const window = { start: days[from] ?? period.end, end: days[to] ?? period.end };
  const data: DailyData = new Map();
  const meters = ratingMeters(policy).filter((m) => !only || only.includes(m.id));
  for (const meter of meters) data.set(meter.id, new Map());
  const plans = planTypes(meters, data);
  const types = [...plans.keys()];
  if (types.length === 0 || window.start >= window.end) return data;
  const columns = slotColumns(plans);
  let day = 0;
  let dayStart = Number.POSITIVE_INFINITY;
  let dayEnd = Number.NEGATIVE_INFINITY;
  const step = (
    count: number,
    seq: number,
    customer: string,
    ts: number,
    type: string,
    ...slot: unknown[]
  ): number => {
    const plan = plans.get(type);
    if (!plan) return count;
    // Rows mostly arrive in time order: try the previous row's day before searching.
    if (ts < dayStart || ts >= dayEnd) {
      day = bucketOf(days, ts);
      dayStart = days[day] as number;
      dayEnd = days[day + 1] ?? period.end;
    }
    for (const m of plan.meters) {
      if (m.where >= 0 && !slot[m.where]) continue;
      let cells = m.cells.get(customer);
      if (!cells) m.cells.set(customer, (cells = []));
      let cell = cells[day];
      if (!cell) {
        cell = {
          q: 0,
          n: 0,
          t: -Infinity,
          s: 0,
          byDim: new Map(),
          values: m.meter.aggregation === "unique_count" ? new Set() : null,
          readings: m.meter.aggregation === "time_weighted" ? [] : null,
        };
        cells[day] = cell;
      }
      fold(m.meter.aggregation, cell, ts, seq, m.dim >= 0 ? slot[m.dim] : null, m.val >= 0 ? slot[m.val] : 1);
    }
    return count + 1;
  };
  const fn = `limitr_fold_${++aggregateSeq}`;
  // The typings know only one-argument aggregates; varargs passes every column.
  db.aggregate(fn, {
    varargs: true,
    start: 0,
    step: step as unknown as (total: number, next: unknown) => number,
  });
  const sql =
    `SELECT ${fn}(${["seq", "customer", "ts", "type", ...columns].join(", ")}) FROM ${fullScan ? "events NOT INDEXED" : "events"} ` +
    `WHERE type IN (${types.map(literal).join(", ")}) AND ts >= ? AND ts < ?`;
  db.prepare(sql).pluck().get(window.start, window.end);
  return data;
}

/**
 * The period's usage lookup from scanned days. `carried` holds each
 * time-weighted meter's last reading before the period (SQLite reads it;
 * the Postgres store refuses time-weighted meters for now).
 */
export function usageFrom(
  policy: CompiledPolicy,
  period: Window,
  data: DailyData,
  carried: CarriedReadings = new Map(),
): DailyUsage {
  const days = dayStarts(period, policy.timezone);
  const customers = new Set<string>();
  for (const byCustomer of data.values()) for (const c of byCustomer.keys()) customers.add(c);
  // A reading carried in holds over the period: its customer has usage even without an event in it.
  for (const byCustomer of carried.values()) for (const c of byCustomer.keys()) customers.add(c);
  const meters = new Map(ratingMeters(policy).map((m) => [m.id, m]));
  return {
    customers,
    lookup: (w) => {
      const meter = meters.get(w.meter);
      if (meter?.aggregation === "time_weighted")
        return timeWeighted(meter, data.get(w.meter), carried.get(w.meter), days, w);
      return answer(meter, data.get(w.meter), days, w);
    },
  };
}

/**
 * Below this many events in the period one thread is faster than starting
 * workers. LIMITR_PARALLEL_MIN_ROWS overrides it (tests force the parallel path).
 */
const PARALLEL_MIN_ROWS = Number(process.env.LIMITR_PARALLEL_MIN_ROWS ?? 2_000_000);

/**
 * Every meter's daily usage in the period, in one pass over its events. A
 * large period is split into day ranges scanned by worker threads, each with its own read connection (WAL readers do not
 * block each other). Day ranges are disjoint, so merging is copying cells.
 */
export async function loadDailyUsageParallel(
  db: Db,
  path: string,
  policy: CompiledPolicy,
  period: Window,
  /** Days scanned so far out of all the period's days (reported as each worker finishes). */
  onProgress?: (daysDone: number, days: number) => void,
): Promise<DailyUsage> {
  const days = dayStarts(period, policy.timezone);
  const { share, rows } = periodShare(db, period);
  const workerFile = new URL("./bill-usage-worker.js", import.meta.url);
  const threads = Math.min(availableParallelism(), 4, days.length);
  if (rows < PARALLEL_MIN_ROWS || threads < 2 || path === ":memory:" || !existsSync(workerFile)) {
    return usageFrom(
      policy,
      period,
      scanDays(db, policy, period, 0, days.length, share >= 0.25),
      carriedReadings(db, policy, period),
    );
  }
  const ranges = Array.from({ length: threads }, (_, i) => [
    Math.floor((i * days.length) / threads),
    Math.floor(((i + 1) * days.length) / threads),
  ]);
  let scanned = 0;
  const parts = await Promise.all(
    ranges.map(
      ([from, to]) =>
        new Promise<DailyData>((resolve, reject) => {
          const worker = new Worker(workerFile, {
            // The worker runs plain compiled JavaScript: no loader or eval flags of the parent.
            execArgv: [],
            workerData: {
              path,
              policy,
              period: { start: period.start, end: period.end },
              from,
              to,
              fullScan: share >= 0.25,
            },
          });
          worker.once("message", (data: DailyData) => {
            scanned += (to as number) - (from as number);
            onProgress?.(scanned, days.length);
            resolve(data);
          });
          worker.once("error", reject);
          worker.once("exit", (code) => {
            if (code !== 0) reject(new Error(`usage scan worker exited with code ${code}`));
          });
        }),
    ),
  );
  const data: DailyData = new Map();
  for (const part of parts) {
    for (const [meter, byCustomer] of part) {
      let target = data.get(meter);
      if (!target) data.set(meter, (target = new Map()));
      for (const [customer, cells] of byCustomer) {
        let into = target.get(customer);
        if (!into) target.set(customer, (into = []));
        cells.forEach((cell, i) => {
          into[i] = cell;
        });
      }
    }
  }
  return usageFrom(policy, period, data, carriedReadings(db, policy, period));
}

/**
 * Add one event to a cell. The result does not depend on the order events
 * come in (scan order, rollup batches): `max` keeps the largest numeric
 * value, `latest` the value of the greatest (ts, seq).
 */
export function fold(
  aggregation: Aggregation,
  cell: DayCell,
  ts: number,
  seq: number,
  dimValue: unknown,
  raw: unknown,
): void {
  cell.n++;
  if (cell.values) {
    if (raw !== null && raw !== undefined) cell.values.add(String(raw));
    return;
  }
  const v = typeof raw === "number" ? raw : raw === null || raw === undefined ? 0 : Number(raw);
  if (!Number.isFinite(v)) return;
  const key = dimValue === null || dimValue === undefined ? "" : String(dimValue);
  switch (aggregation) {
    case "sum":
    case "count": {
      // Integer and fractional parts apart: both sums are exact whatever the order events come in.
      const whole = Math.trunc(v);
      cell.q += whole;
      cell.byDim.set(key, (cell.byDim.get(key) ?? 0) + whole);
      if (whole !== v) {
        const nanos = Math.round((v - whole) * 1e9);
        cell.f = (cell.f ?? 0) + nanos;
        cell.byDimF ??= new Map();
        cell.byDimF.set(key, (cell.byDimF.get(key) ?? 0) + nanos);
      }
      break;
    }
    case "max":
      if (cell.t === -Infinity || v > cell.q) cell.q = v;
      break;
    case "time_weighted":
      cell.readings?.push(ts, v);
      break;
    default:
      if (ts > cell.t || (ts === cell.t && seq > (cell.s ?? 0))) {
        cell.q = v;
        cell.s = seq;
      }
  }
  if (ts > cell.t) cell.t = ts;
}

function answer(
  meter: CompiledMeter | undefined,
  data: Map<string, DayCell[]> | undefined,
  days: number[],
  w: UsageWindow,
): UsageAmount {
  const out: UsageAmount = { quantity: ZERO, events: 0, byDim: new Map() };
  if (!meter || !data) return out;
  const values = new Set<string>();
  let latestT = -Infinity;
  let latestS = 0;
  let q: Decimal = ZERO;
  let seen = false;
  for (const member of w.members) {
    const cells = data.get(member);
    if (!cells) continue;
    for (let i = 0; i < days.length; i++) {
      const start = days[i] as number;
      const cell = cells[i];
      if (!cell || start < w.start || start >= w.end) continue;
      out.events += cell.n;
      if (cell.values) {
        for (const v of cell.values) values.add(v);
      } else if (meter.aggregation === "sum" || meter.aggregation === "count") {
        q = q.plus(quantityOf(cell.q)).plus(fromNanos(cell.f));
        for (const [k, v] of cell.byDim)
          out.byDim.set(
            k,
            (out.byDim.get(k) ?? ZERO).plus(quantityOf(v)).plus(fromNanos(cell.byDimF?.get(k))),
          );
      } else if (meter.aggregation === "max") {
        if (!seen || quantityOf(cell.q).gt(q)) q = quantityOf(cell.q);
      } else if (cell.t > latestT || (cell.t === latestT && (cell.s ?? 0) >= latestS)) {
        latestT = cell.t;
        latestS = cell.s ?? 0;
        q = quantityOf(cell.q);
      }
      seen = true;
    }
  }
  out.quantity = meter.aggregation === "unique_count" ? dec(values.size) : q;
  if (meter.aggregation !== "sum" && meter.aggregation !== "count") out.byDim = new Map([["", out.quantity]]);
  return out;
}

/** A sum of fractional parts kept in units of 10^-9, as a decimal. */
export function fromNanos(f: number | undefined): Decimal {
  return f ? dec(f).div(1e9) : ZERO;
}

/**
 * A quantity held as a double as a decimal: integers (and integer sums, below
 * 2^53) exactly; a value with a fraction (a max, a latest value, a SQL sum)
 * via its shortest round-trip text, rounded to 9 decimal places. Daily sums
 * keep fractional parts apart (`DayCell.f`), exactly.
 */
export function quantityOf(q: number | null): Decimal {
  if (q === null) return ZERO;
  return Number.isInteger(q) ? dec(q) : dec(q).toDecimalPlaces(9);
}
