import type { ChargeModel, CompiledMeter, CompiledPolicy } from "../../core/model.js";
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
 * synchronous: the store first answers, for each meter, the most
 * `free_events` any percentage price of the policy asks of it (the first N
 * of a day hold the first n < N), then the bill rates once; a window asking
 * for more (above MAX_FIRST_EVENTS) is found by that pass and answered for a
 * second one.
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
    /** Per meter: the first `n` events of every (customer, day) of the piece. */
    const cache = new Map<string, { n: number; leads: FirstEvents }>();
    const missing = new Map<string, number>();
    const withLeads: UsageLookup = (w) => {
      const out = lookup(w);
      const meter = policy.meters[w.meter];
      if (!w.firstEvents || !meter) return out;
      if (out.events === 0) return { ...out, firstEventsQuantity: ZERO };
      const known = cache.get(w.meter);
      if (!known || known.n < w.firstEvents) {
        missing.set(w.meter, Math.max(missing.get(w.meter) ?? 0, w.firstEvents));
        return { ...out, firstEventsQuantity: ZERO };
      }
      return { ...out, firstEventsQuantity: firstOfWindow(known.leads, days, w, w.firstEvents) };
    };
    const answer = async (wanted: Map<string, number>) => {
      const asked = [...wanted].filter(([meter]) => policy.meters[meter] !== undefined);
      const answers = await Promise.all(
        asked.map(([meter, n]) =>
          store.firstEvents(policy.meters[meter] as CompiledMeter, piece, days, n, policy.timezone),
        ),
      );
      asked.forEach(([meter, n], i) => {
        cache.set(meter, { n, leads: answers[i] as FirstEvents });
      });
    };
    fetches.push(async () => {
      const asked = new Map(missing);
      missing.clear();
      await answer(asked);
    });
    return { ...pricing, lookup: withLeads, missing, prefetch: () => answer(firstEventsWanted(policy)) };
  });
  await Promise.all(wrapped.map((w) => w.prefetch()));
  const bill = billPriced(period, inputs, wrapped);
  if (wrapped.every((w) => w.missing.size === 0)) return bill;
  for (const fetch of fetches) await fetch();
  return billPriced(period, inputs, wrapped);
}

/**
 * The most first events a rollup keeps per (day, customer): a policy
 * asking for more `free_events` than this has them read from the events.
 */
export const MAX_FIRST_EVENTS = Number(process.env.LIMITR_ROLLUP_FIRST_EVENTS_MAX ?? 1000);

/**
 * The most `free_events` of a percentage price on each meter, over the
 * policy's plans and its customers' contract overrides (meters absent: none).
 * Only what rollups keep ahead of time: a bill asking for more raises it.
 */
export function firstEventsWanted(policy: CompiledPolicy): Map<string, number> {
  const out = new Map<string, number>();
  const want = (meter: string, price: ChargeModel | null | undefined) => {
    if (price?.model !== "percentage" || price.freeEvents <= 0 || !policy.meters[meter]) return;
    const n = Math.min(price.freeEvents, MAX_FIRST_EVENTS);
    if (n > (out.get(meter) ?? 0)) out.set(meter, n);
  };
  for (const plan of Object.values(policy.plans))
    for (const ent of Object.values(plan.entitlements)) {
      if (ent.kind !== "metered") continue;
      want(ent.meter, ent.price);
      for (const c of Object.values(policy.customers)) want(ent.meter, c.overrides[ent.id]?.price);
    }
  return out;
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
