import { UsageError } from "../../core/errors.js";
import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import { type Decimal, decStr, ZERO } from "../../core/money.js";
import { isoDate, LIFETIME, type NamedPeriod } from "../../core/periods.js";
import type { AggregateRow, UsageStore } from "../../core/usage/store-port.js";
import { dayStarts, quantityOf } from "./bill-usage.js";

/** What to total: one meter or all, one customer or all, a period (null = all time), a grouping. */
export interface UsageQuery {
  meter?: string;
  customer?: string;
  period?: NamedPeriod | null;
  /** `customer` (default), `meter`, `day` (needs a period) or an event property. */
  groupBy?: string;
}

export interface UsageQueryResult {
  groupBy: string;
  /** The period's label, null for all time. */
  period: string | null;
  rows: Record<string, string | number>[];
}

interface Acc {
  meter: string;
  key: string;
  value: Decimal;
  events: number;
  t: number;
  values: Set<string> | null;
}

/**
 * Each meter's aggregation (sum, count, max, unique_count, latest) with its
 * `where` filter over a period, grouped as asked: what `limitr usage query`
 * prints, `GET /v1/meters/{meter}` answers and the library's `queryUsage`
 * returns. The store aggregates where the data lives.
 */
export async function aggregateUsage(
  policy: CompiledPolicy,
  db: UsageStore,
  query: UsageQuery,
): Promise<UsageQueryResult> {
  const zone = policy.timezone;
  const period = query.period ?? null;
  const window = period ?? LIFETIME;
  const groupBy = query.groupBy ?? "customer";
  const meterId = query.meter;
  const customer = query.customer;
  if (meterId && !policy.meters[meterId]) {
    throw new UsageError(`unknown meter "${meterId}" (meters: ${Object.keys(policy.meters).join(", ")})`);
  }
  if (groupBy === "day" && !period) throw new UsageError("grouping by day needs a period");
  const meters = meterId ? [policy.meters[meterId] as CompiledMeter] : Object.values(policy.meters);
  const days = groupBy === "day" && period ? dayStarts(period, zone) : undefined;
  const dimension = groupBy === "customer" || groupBy === "meter" || groupBy === "day" ? null : groupBy;

  const accs = new Map<string, Acc>();
  for (const meter of meters) {
    const unique = meter.aggregation === "unique_count";
    const rows = await db.aggregateMeter({
      meter,
      window,
      buckets: days,
      dimension,
      customers: customer ? [customer] : undefined,
      distinctValues: unique && groupBy !== "customer",
      zone,
    });
    for (const r of rows) {
      const key = keyOf(groupBy, r, days, zone);
      const id = `${meter.id}\u0000${key}`;
      let acc = accs.get(id);
      if (!acc)
        accs.set(id, (acc = { meter: meter.id, key, value: ZERO, events: 0, t: -Infinity, values: null }));
      fold(meter, acc, r, unique && groupBy !== "customer");
    }
  }
  const results: Record<string, string | number>[] = [...accs.values()]
    .sort((a, b) => a.meter.localeCompare(b.meter) || a.key.localeCompare(b.key))
    .map((a) => ({
      meter: a.meter,
      ...(groupBy === "meter" ? {} : { [groupBy]: a.key }),
      value: decStr(a.values ? a.values.size : a.value),
      events: a.events,
    }));
  return { groupBy, period: period?.label ?? null, rows: results };
}

function keyOf(groupBy: string, r: AggregateRow, days: number[] | undefined, zone: string): string {
  if (groupBy === "customer") return r.customer;
  if (groupBy === "meter") return "";
  if (groupBy === "day") return isoDate(days?.[r.bucket] ?? 0, zone);
  return r.dim === null ? "(none)" : String(r.dim);
}

function fold(meter: CompiledMeter, acc: Acc, r: AggregateRow, distinct: boolean): void {
  acc.events += r.n;
  if (distinct) {
    acc.values ??= new Set();
    if (r.dim !== null) acc.values.add(String(r.dim));
    return;
  }
  const q = quantityOf(r.q);
  if (meter.aggregation === "sum" || meter.aggregation === "count" || meter.aggregation === "unique_count") {
    acc.value = acc.value.plus(q);
  } else if (meter.aggregation === "max") {
    if (acc.t === -Infinity || q.gt(acc.value)) acc.value = q;
  } else if (r.t >= acc.t) acc.value = q;
  if (r.t > acc.t) acc.t = r.t;
}
