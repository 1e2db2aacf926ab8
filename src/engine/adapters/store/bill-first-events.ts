import type { CompiledMeter } from "../../core/model.js";
import { type Decimal, ZERO } from "../../core/money.js";
import type { NamedPeriod, Window } from "../../core/periods.js";
import { type Bill, type BillPricing, billPriced, type NumberedInput } from "../../core/rating/bill.js";
import type { UsageLookup, UsageWindow } from "../../core/rating/invoice.js";
import { COUNT_WEIGHT_SQL, sqlValue } from "../../core/usage/meters.js";
import type { FirstEvents, Lead, UsageStore } from "../../core/usage/store-port.js";
import { dayStarts, quantityOf } from "./bill-usage.js";
import type { Db } from "./database.js";
import { bucketOf, jsonPath } from "./usage-store.js";

/**
 * Percentage `free_events: N` (SPEC §15): the summed value of a window's
 * first N events, ordered by timestamp then id (the id breaks ties the same
 * way on every run). The bill's single pass keeps daily totals, not events,
 * so the store reads, once per (meter, N), the first N events of every
 * (customer, day) of the period; every rating window is whole days, so its
 * first N events are among those of its days. Rating is pure and the lookup
 * synchronous: a first pass finds which (meter, N) the bill asks for, the
 * store answers them, and a second pass rates with the answers (only when a
 * policy uses `free_events` at all).
 */
export async function rateWithFirstEvents(
  store: Pick<UsageStore, "firstEvents">,
  period: NamedPeriod,
  inputs: NumberedInput[],
  pricings: BillPricing[],
): Promise<Bill> {
  const fetches: (() => Promise<void>)[] = [];
  const wrapped = pricings.map((pricing) => {
    const { policy, lookup } = pricing;
    const piece = { start: pricing.start, end: pricing.end };
    const days = dayStarts(piece, policy.timezone);
    const cache = new Map<string, FirstEvents>();
    const missing = new Map<string, { meter: CompiledMeter; n: number }>();
    const withLeads: UsageLookup = (w) => {
      const out = lookup(w);
      const meter = policy.meters[w.meter];
      if (!w.firstEvents || !meter) return out;
      if (out.events === 0) return { ...out, firstEventsQuantity: ZERO };
      const key = `${w.meter}\u0000${w.firstEvents}`;
      const leads = cache.get(key);
      if (!leads) {
        missing.set(key, { meter, n: w.firstEvents });
        return { ...out, firstEventsQuantity: ZERO };
      }
      return { ...out, firstEventsQuantity: firstOfWindow(leads, days, w, w.firstEvents) };
    };
    fetches.push(async () => {
      for (const [key, { meter, n }] of missing)
        cache.set(key, await store.firstEvents(meter, piece, days, n, policy.timezone));
      missing.clear();
    });
    return { ...pricing, lookup: withLeads, missing };
  });
  const bill = billPriced(period, inputs, wrapped);
  if (wrapped.every((w) => w.missing.size === 0)) return bill;
  for (const fetch of fetches) await fetch();
  return billPriced(period, inputs, wrapped);
}

function firstOfWindow(leads: Map<string, Lead[][]>, days: number[], w: UsageWindow, n: number): Decimal {
  let sum: Decimal = ZERO;
  let taken = 0;
  for (let d = 0; d < days.length && taken < n; d++) {
    const start = days[d] as number;
    if (start < w.start || start >= w.end) continue;
    const today: Lead[] = [];
    for (const member of w.members) today.push(...(leads.get(member)?.[d] ?? []));
    today.sort((a, b) => (leadBefore(a, b) ? -1 : leadBefore(b, a) ? 1 : 0));
    for (const e of today) {
      if (taken === n) break;
      sum = sum.plus(quantityOf(e.v));
      taken++;
    }
  }
  return sum;
}

/** Ids compare as SQLite compares TEXT (bytes of UTF-8, i.e. code points), not as UTF-16 units. */
function idBefore(a: string, b: string): boolean {
  if (a === b) return false;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")) < 0;
}

/** Is `a` before `b` in the order `free_events` counts events: by timestamp, then id? */
export function leadBefore(a: Lead, b: Lead): boolean {
  return a.ts < b.ts || (a.ts === b.ts && idBefore(a.id, b.id));
}

/** An event's value as percentage `free_events` sums it (null and non-numbers: 0). */
export function leadValue(raw: unknown): number {
  const v = typeof raw === "number" ? raw : raw === null || raw === undefined ? 0 : Number(raw);
  return Number.isFinite(v) ? v : 0;
}

let dayFnSeq = 0;

/** SQLite: one windowed query over the period's events of the meter. */
export function firstEventsPerDay(
  db: Db,
  meter: CompiledMeter,
  period: Window,
  days: number[],
  n: number,
): Map<string, Lead[][]> {
  const dayOf = `limitr_day_${++dayFnSeq}`;
  db.function(dayOf, { deterministic: true }, (ts: unknown) => bucketOf(days, Number(ts)));
  const params: (string | number)[] = [...meter.events, period.start, period.end];
  const conds = Object.entries(meter.where).map(([k, values]) => {
    params.push(...values.map(sqlValue));
    return `json_extract(properties, ${jsonPath(k)}) IN (${values.map(() => "?").join(", ")})`;
  });
  const value =
    meter.aggregation === "count"
      ? COUNT_WEIGHT_SQL
      : meter.property
        ? `json_extract(properties, ${jsonPath(meter.property)})`
        : "value";
  const sql =
    `SELECT customer, day, ts, id, v FROM (SELECT customer, ${dayOf}(ts) AS day, ts, id, ${value} AS v, ` +
    `ROW_NUMBER() OVER (PARTITION BY customer, ${dayOf}(ts) ORDER BY ts, id) AS rn FROM events ` +
    `WHERE type IN (${meter.events.map(() => "?").join(", ")}) AND ts >= ? AND ts < ?` +
    `${conds.map((c) => ` AND ${c}`).join("")}) WHERE rn <= ?`;
  params.push(n);
  const out = new Map<string, Lead[][]>();
  const rows = db.prepare(sql).all(...params) as {
    customer: string;
    day: number;
    ts: number;
    id: string;
    v: unknown;
  }[];
  for (const r of rows) {
    let perDay = out.get(r.customer);
    if (!perDay) out.set(r.customer, (perDay = []));
    (perDay[r.day] ??= []).push({ ts: r.ts, id: r.id, v: leadValue(r.v) });
  }
  return out;
}
