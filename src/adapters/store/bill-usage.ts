import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import { type Decimal, dec, ZERO } from "../../core/money.js";
import { calendarWindow, type Window } from "../../core/periods.js";
import type { UsageAmount, UsageWindow } from "../../core/rating/invoice.js";
import { costDimension, sqlValue } from "../../core/usage/meters.js";
import type { Db } from "./database.js";
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
interface DayCell {
  /** JS numbers: sums of integers are exact up to 2^53; see `quantityOf` for fractions. */
  q: number;
  n: number;
  /** Latest event time in the cell (for `latest`). */
  t: number;
  byDim: Map<string, number>;
  values: Set<string> | null;
}

export interface DailyUsage {
  /** Customers with at least one event counted by some meter in the period. */
  customers: Set<string>;
  lookup: (w: UsageWindow) => UsageAmount;
}

export function dayStarts(period: Window, zone: string): number[] {
  const out: number[] = [];
  for (let t = period.start; t < period.end; t = calendarWindow("day", t, zone).end) out.push(t);
  return out;
}

let aggregateSeq = 0;

/** Read every meter's daily usage in the period. */
export function loadDailyUsage(db: Db, policy: CompiledPolicy, period: Window): DailyUsage {
  const days = dayStarts(period, policy.timezone);
  const data = new Map<string, Map<string, DayCell[]>>();
  const customers = new Set<string>();
  const groups = new Map<string, CompiledMeter[]>();
  for (const meter of Object.values(policy.meters)) {
    data.set(meter.id, new Map());
    const key = [...new Set(meter.events)].sort().join("\u0000");
    groups.set(key, [...(groups.get(key) ?? []), meter]);
  }
  for (const meters of groups.values()) {
    const types = meters[0]?.events ?? [];
    const params: (string | number)[] = [];
    const columns: string[] = [];
    for (const m of meters) {
      const conds = Object.entries(m.where).map(([k, values]) => {
        params.push(...values.map(sqlValue));
        return `json_extract(properties, ${jsonPath(k)}) IN (${values.map(() => "?").join(", ")})`;
      });
      columns.push(conds.length ? `(${conds.join(" AND ")})` : "1");
      const dim = m.aggregation === "unique_count" ? null : costDimension(m);
      columns.push(dim ? `json_extract(properties, ${jsonPath(dim)})` : "NULL");
      columns.push(
        m.aggregation === "count"
          ? "1"
          : m.property
            ? `json_extract(properties, ${jsonPath(m.property)})`
            : "value",
      );
    }
    const perMeter = meters.map((m) => data.get(m.id) as Map<string, DayCell[]>);
    const fn = `limitr_fold_${++aggregateSeq}`;
    const step = (count: number, customer: string, ts: number, ...cols: unknown[]): number => {
      const day = bucketOf(days, ts);
      customers.add(customer);
      for (let i = 0; i < meters.length; i++) {
        if (!cols[3 * i]) continue;
        const meter = meters[i] as CompiledMeter;
        const byCustomer = perMeter[i] as Map<string, DayCell[]>;
        let cells = byCustomer.get(customer);
        if (!cells) byCustomer.set(customer, (cells = []));
        let cell = cells[day];
        if (!cell) {
          cell = {
            q: 0,
            n: 0,
            t: -Infinity,
            byDim: new Map(),
            values: meter.aggregation === "unique_count" ? new Set() : null,
          };
          cells[day] = cell;
        }
        fold(meter, cell, ts, cols[3 * i + 1], cols[3 * i + 2]);
      }
      return count + 1;
    };
    // The typings know only one-argument aggregates; varargs passes every column.
    db.aggregate(fn, {
      varargs: true,
      start: 0,
      step: step as unknown as (total: number, next: unknown) => number,
    });
    const sql =
      `SELECT ${fn}(customer, ts, ${columns.join(", ")}) FROM events ` +
      `WHERE type IN (${types.map(() => "?").join(", ")}) AND ts >= ? AND ts < ?`;
    db.prepare(sql)
      .pluck()
      .get(...params, ...types, period.start, period.end);
  }
  return { customers, lookup: (w) => answer(policy.meters[w.meter], data.get(w.meter), days, w) };
}

function fold(meter: CompiledMeter, cell: DayCell, ts: number, dimValue: unknown, raw: unknown): void {
  cell.n++;
  if (cell.values) {
    if (raw !== null && raw !== undefined) cell.values.add(String(raw));
    return;
  }
  const v = typeof raw === "number" ? raw : raw === null || raw === undefined ? 0 : Number(raw);
  if (!Number.isFinite(v)) return;
  const key = dimValue === null || dimValue === undefined ? "" : String(dimValue);
  switch (meter.aggregation) {
    case "sum":
    case "count":
      cell.q += v;
      cell.byDim.set(key, (cell.byDim.get(key) ?? 0) + v);
      break;
    case "max":
      if (cell.n === 1 || v > cell.q) cell.q = v;
      break;
    default:
      if (ts >= cell.t) cell.q = v;
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
        q = q.plus(quantityOf(cell.q));
        for (const [k, v] of cell.byDim) out.byDim.set(k, (out.byDim.get(k) ?? ZERO).plus(quantityOf(v)));
      } else if (meter.aggregation === "max") {
        if (!seen || quantityOf(cell.q).gt(q)) q = quantityOf(cell.q);
      } else if (cell.t >= latestT) {
        latestT = cell.t;
        q = quantityOf(cell.q);
      }
      seen = true;
    }
  }
  out.quantity = meter.aggregation === "unique_count" ? dec(values.size) : q;
  if (meter.aggregation !== "sum" && meter.aggregation !== "count") out.byDim = new Map([["", out.quantity]]);
  return out;
}

/**
 * Quantities are summed as doubles: integer sums are exact (below 2^53); a
 * sum with fractional values is read via its shortest round-trip text and
 * rounded to 9 decimal places, far below any currency's minor unit.
 */
export function quantityOf(q: number | null): Decimal {
  if (q === null) return ZERO;
  return Number.isInteger(q) ? dec(q) : dec(q).toDecimalPlaces(9);
}
