import { DateTime, Duration } from "luxon";
import { calendarWindow } from "../periods.js";

/**
 * When wallet grants happen and when they expire (SPEC §12). Calendar
 * periods (`every: month`) follow the policy timezone like every other
 * period (R6); an ISO-8601 duration (`every: P7D`) counts from the instant
 * the wallet opened. Time is passed in.
 */
const CALENDAR = new Set(["day", "week", "month", "quarter", "year"]);

type CalendarUnit = "day" | "week" | "month" | "quarter" | "year";

/** `at` plus an ISO-8601 duration in `zone` (P1M from Jan 31 is Feb 28/29, as luxon counts). */
export function plusDuration(at: number, iso: string, zone: string): number {
  const d = Duration.fromISO(iso);
  if (!d.isValid || d.toMillis() <= 0) throw new Error(`invalid duration ${iso}`);
  return DateTime.fromMillis(at, { zone }).plus(d).toMillis();
}

/** The grant period holding `now` for a wallet opened at `openedAt`: [start, end). */
export function grantPeriod(
  every: string,
  now: number,
  openedAt: number,
  zone: string,
): { start: number; end: number } {
  if (CALENDAR.has(every)) return calendarWindow(every as CalendarUnit, now, zone);
  let start = openedAt;
  let end = plusDuration(start, every, zone);
  while (end <= now) {
    start = end;
    end = plusDuration(start, every, zone);
  }
  return { start, end };
}

/** The grant boundary after `boundary`. */
export function nextGrant(every: string, boundary: number, zone: string): number {
  if (CALENDAR.has(every)) return calendarWindow(every as CalendarUnit, boundary, zone).end;
  return plusDuration(boundary, every, zone);
}

/** When a grant made at `at` expires: Infinity without `expires_after`. */
export function grantExpiry(expiresAfter: string | null, at: number, zone: string): number {
  return expiresAfter === null ? Infinity : plusDuration(at, expiresAfter, zone);
}
