import { type Decimal, dec, ZERO } from "../money.js";

/** Milliseconds in one `unit_time` of a `time_weighted` meter. */
export const UNIT_TIME_MS = { hour: 3_600_000, day: 86_400_000 } as const;

export type UnitTime = keyof typeof UNIT_TIME_MS;

/**
 * `time_weighted` usage: each reading (GB stored, seats held) holds from its
 * timestamp until the next one, and the usage of [start, end) is the area
 * under that step function in value x unit_time (GB-hours, seat-days). The
 * reading in force at `start` is `carry` (the last one before it; null when
 * there is none: nothing was held). Exact decimal arithmetic on whole
 * milliseconds, rounded to 9 decimal places at the end (far below any
 * currency's minor unit, as for other fractional quantities).
 *
 * `readings` are [ts, value] pairs in time order (equal times: the later one wins).
 *
 * @example
 * // 10 GB from 00:00, 20 GB from 12:00, over one day, in GB-hours: 10*12 + 20*12 = 360
 * integrateReadings([[t0 + 12 * H, 20]], 10, t0, t0 + 24 * H, "hour")
 */
export function integrateReadings(
  readings: readonly (readonly [number, number | string])[],
  carry: number | string | null,
  start: number,
  end: number,
  unit: UnitTime,
): Decimal {
  let held: Decimal | null = carry === null ? null : dec(carry);
  let from = start;
  let area = ZERO;
  for (const [ts, value] of readings) {
    if (ts >= end) break;
    if (ts <= start) {
      held = dec(value);
      continue;
    }
    if (held !== null) area = area.plus(held.times(ts - from));
    held = dec(value);
    from = ts;
  }
  if (held !== null && end > from) area = area.plus(held.times(end - from));
  return area.div(UNIT_TIME_MS[unit]).toDecimalPlaces(9);
}

/** The live value of a reading held since `since` up to `now`, in unit_time (engine counters, floats). */
export function heldArea(value: number, since: number, now: number, unit: UnitTime): number {
  return now > since ? (value * (now - since)) / UNIT_TIME_MS[unit] : 0;
}
