import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import { ZERO } from "../../core/money.js";
import { LIFETIME, type Window } from "../../core/periods.js";
import type { UsageAmount, UsageWindow } from "../../core/rating/invoice.js";
import { integrateReadings } from "../../core/usage/time-weighted.js";
import type { DayCell } from "./bill-usage.js";
import type { Db } from "./database.js";
import { aggregateMeter } from "./usage-store.js";

/** Per time_weighted meter and customer: the last reading before the billed period (it holds into it). */
export type CarriedReadings = Map<string, Map<string, number>>;

export function carriedReadings(db: Db, policy: CompiledPolicy, period: Window): CarriedReadings {
  const out: CarriedReadings = new Map();
  for (const meter of Object.values(policy.meters)) {
    if (meter.aggregation !== "time_weighted") continue;
    const last = new Map<string, number>();
    const rows = aggregateMeter(db, {
      meter: { ...meter, aggregation: "latest" },
      window: { start: LIFETIME.start, end: period.start },
    });
    for (const row of rows)
      if (row.q !== null && Number.isFinite(Number(row.q))) last.set(row.customer, Number(row.q));
    out.set(meter.id, last);
  }
  return out;
}

/**
 * GB-hours / seat-days of a window: per account member, the readings of the
 * period's days before and inside the window (the last one before it holds
 * into it, else the reading carried in from before the period), integrated
 * over the window; members add up (a pooled account holds all their storage).
 */
export function timeWeighted(
  meter: CompiledMeter,
  data: Map<string, DayCell[]> | undefined,
  carried: Map<string, number> | undefined,
  days: number[],
  w: UsageWindow,
): UsageAmount {
  const out: UsageAmount = { quantity: ZERO, events: 0, byDim: new Map() };
  let q = ZERO;
  for (const member of w.members) {
    const cells = data?.get(member) ?? [];
    const readings: [number, number][] = [];
    for (let i = 0; i < days.length; i++) {
      const cell = cells[i];
      if (!cell?.readings || (days[i] as number) >= w.end) continue;
      if ((days[i] as number) >= w.start) out.events += cell.n;
      for (let k = 0; k < cell.readings.length; k += 2)
        readings.push([cell.readings[k] as number, cell.readings[k + 1] as number]);
    }
    // Stable: equal timestamps keep their scan order, the later one wins.
    readings.sort((a, b) => a[0] - b[0]);
    const carry = carried?.get(member) ?? null;
    if (readings.length === 0 && carry === null) continue;
    q = q.plus(integrateReadings(readings, carry, w.start, w.end, meter.unitTime ?? "hour"));
  }
  out.quantity = q;
  out.byDim = new Map([["", q]]);
  return out;
}
