import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import { type Decimal, dec, ZERO } from "../../core/money.js";
import { calendarWindow, type Window } from "../../core/periods.js";
import type { UsageAmount, UsageWindow } from "../../core/rating/invoice.js";
import { costDimension } from "../../core/usage/meters.js";
import type { Db } from "./database.js";
import { aggregateMeter } from "./usage-store.js";

/**
 * Usage for a bill, aggregated once per meter by (customer, day, cost
 * dimension) in SQL. Every rating window is a whole number of days in the
 * policy timezone (plan changes take effect at day starts), so any window is
 * answered exactly from the daily rows; unique_count keeps the distinct values
 * per day so that windows longer than a day count each value once (also
 * across the members of a pooled account).
 */
interface DayCell {
  q: Decimal;
  n: number;
  /** Latest event time in the cell (for `latest`). */
  t: number;
  byDim: Map<string, Decimal>;
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

/** Read every meter's daily usage in the period. Fractional values arrive as doubles; see docs/billing.md. */
export function loadDailyUsage(db: Db, policy: CompiledPolicy, period: Window): DailyUsage {
  const days = dayStarts(period, policy.timezone);
  const data = new Map<string, Map<string, DayCell[]>>();
  const customers = new Set<string>();
  for (const meter of Object.values(policy.meters)) {
    const perCustomer = new Map<string, DayCell[]>();
    data.set(meter.id, perCustomer);
    const unique = meter.aggregation === "unique_count";
    const dimension = unique ? null : costDimension(meter);
    const rows = aggregateMeter(db, { meter, window: period, buckets: days, dimension, distinctValues: unique });
    for (const r of rows) {
      customers.add(r.customer);
      let cells = perCustomer.get(r.customer);
      if (!cells) perCustomer.set(r.customer, (cells = []));
      let cell = cells[r.bucket];
      if (!cell) cells[r.bucket] = cell = { q: ZERO, n: 0, t: -Infinity, byDim: new Map(), values: unique ? new Set() : null };
      merge(meter, cell, r);
    }
  }
  return {
    customers,
    lookup: (w) => answer(policy.meters[w.meter], data.get(w.meter), days, w),
  };
}

function merge(meter: CompiledMeter, cell: DayCell, r: { dim: unknown; q: number | null; n: number; t: number }): void {
  cell.n += r.n;
  if (cell.values) {
    if (r.dim !== null) cell.values.add(String(r.dim));
    cell.q = dec(cell.values.size);
    return;
  }
  const q = quantityOf(r.q);
  const key = r.dim === null ? "" : String(r.dim);
  if (meter.aggregation === "sum" || meter.aggregation === "count") {
    cell.q = cell.q.plus(q);
    cell.byDim.set(key, (cell.byDim.get(key) ?? ZERO).plus(q));
  } else if (meter.aggregation === "max") {
    if (q.gt(cell.q)) cell.q = q;
    cell.byDim.set(key, q);
  } else if (r.t >= cell.t) {
    cell.q = q;
    cell.byDim = new Map([[key, q]]);
  }
  if (r.t > cell.t) cell.t = r.t;
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
  for (const member of w.members) {
    const cells = data.get(member);
    if (!cells) continue;
    for (let i = 0; i < days.length; i++) {
      const start = days[i] as number;
      if (start < w.start || start >= w.end) continue;
      const cell = cells[i];
      if (!cell) continue;
      out.events += cell.n;
      if (cell.values) {
        for (const v of cell.values) values.add(v);
        continue;
      }
      if (meter.aggregation === "sum" || meter.aggregation === "count") {
        out.quantity = out.quantity.plus(cell.q);
        for (const [k, v] of cell.byDim) out.byDim.set(k, (out.byDim.get(k) ?? ZERO).plus(v));
      } else if (meter.aggregation === "max") {
        if (cell.q.gt(out.quantity)) out.quantity = cell.q;
      } else if (cell.t >= latestT) {
        latestT = cell.t;
        out.quantity = cell.q;
      }
    }
  }
  if (meter.aggregation === "unique_count") out.quantity = dec(values.size);
  if (meter.aggregation !== "sum" && meter.aggregation !== "count") out.byDim = new Map([["", out.quantity]]);
  return out;
}

/**
 * SQLite sums integers exactly (64-bit); a sum with fractional values is a
 * double (compensated summation), read via its shortest round-trip text and
 * rounded to 9 decimal places, far below any currency's minor unit.
 */
export function quantityOf(q: number | null): Decimal {
  if (q === null) return ZERO;
  return Number.isInteger(q) ? dec(q) : dec(q).toDecimalPlaces(9);
}
