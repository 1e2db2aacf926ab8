import { DateTime } from "luxon";

/**
 * Event timestamps, read strictly. Accepted:
 * - an ISO-8601 extended date-time `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`
 *   or an offset `±HH:MM` / `±HHMM`, or without one (read in the policy zone);
 * - an ISO-8601 date `YYYY-MM-DD` (the start of that day in the policy zone);
 * - epoch milliseconds, as a JSON integer or a string of digits.
 * A date or time that does not exist (September 31, 24:00) is an error, never
 * rolled over, and every instant must fall in [EARLIEST_EVENT, LATEST_EVENT).
 */

/** 2000-01-01T00:00:00Z: earlier "milliseconds" are almost always epoch seconds. */
export const EARLIEST_EVENT = Date.UTC(2000, 0, 1);
/** 2100-01-01T00:00:00Z: later ones are microseconds, nanoseconds or garbage. */
export const LATEST_EVENT = Date.UTC(2100, 0, 1);

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2}))?)?$/;
/** The common zoned forms, which Date.parse reads fast (but it rolls September 31 over, and reads 24:00). */
const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const DIGITS = /^-?\d+$/;
const FORMS =
  "expected ISO-8601 such as 2026-10-05T10:00:00Z, 2026-10-05T10:00:00-04:00 or 2026-10-05, or epoch milliseconds";

/** Epoch ms of an event timestamp, or the reason it is refused. Offset-less times are read in `zone`. */
export function eventTime(v: unknown, zone: string): number | string {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return `bad timestamp ${v} (epoch milliseconds must be a whole number)`;
    return inRange(v, String(v), true);
  }
  if (typeof v !== "string" || v === "") return v === undefined ? "missing timestamp" : bad(v);
  if (ZONED.test(v)) {
    const ms = Date.parse(v);
    if (ms >= EARLIEST_EVENT && ms < LATEST_EVENT && dayAndHourExist(v)) return ms;
  }
  // Everything else, and the reason a zoned form is refused.
  const m = ISO.exec(v);
  if (m === null) return DIGITS.test(v) ? inRange(Number(v), JSON.stringify(v), true) : bad(v);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12) return `bad timestamp ${JSON.stringify(v)}: no month ${m[2]}`;
  if (day < 1 || day > daysIn(year, month)) {
    return `bad timestamp ${JSON.stringify(v)}: ${m[1]}-${m[2]} has no day ${m[3]}`;
  }
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  if (hour > 23 || minute > 59 || second > 59)
    return `bad timestamp ${JSON.stringify(v)}: no such time of day`;
  const millisecond = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  // Years before 1000 are out of range anyway; Date.UTC would read 0-99 as 1900-1999.
  if (year < 1000) return inRange(Number.NEGATIVE_INFINITY, JSON.stringify(v), false);
  const offset = m[8];
  let ms: number;
  if (offset === undefined) {
    ms = DateTime.fromObject({ year, month, day, hour, minute, second, millisecond }, { zone }).toMillis();
  } else {
    let offsetMinutes = 0;
    if (offset !== "Z") {
      const oh = Number(offset.slice(1, 3));
      const om = Number(offset.slice(-2));
      if (oh > 23 || om > 59) {
        return `bad timestamp ${JSON.stringify(v)}: no such UTC offset`;
      }
      offsetMinutes = (offset[0] === "-" ? -1 : 1) * (oh * 60 + om);
    }
    ms = Date.UTC(year, month - 1, day, hour, minute, second, millisecond) - offsetMinutes * 60_000;
  }
  return inRange(ms, JSON.stringify(v), false);
}

const digits2 = (v: string, at: number) => (v.charCodeAt(at) - 48) * 10 + v.charCodeAt(at + 1) - 48;

/** The fields Date.parse does not check in a `YYYY-MM-DDTHH...` string. */
function dayAndHourExist(v: string): boolean {
  if (digits2(v, 11) > 23) return false;
  const day = digits2(v, 8);
  return day <= 28 || day <= daysIn(digits2(v, 0) * 100 + digits2(v, 2), digits2(v, 5));
}

function bad(v: unknown): string {
  return `bad timestamp ${JSON.stringify(v)} (${FORMS})`;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const RANGE = `${new Date(EARLIEST_EVENT).toISOString().replace(".000", "")} .. ${new Date(LATEST_EVENT).toISOString().replace(".000", "")}`;

function inRange(ms: number, shown: string, epoch: boolean): number | string {
  if (ms >= EARLIEST_EVENT && ms < LATEST_EVENT) return ms;
  let hint = "";
  if (epoch && ms * 1000 >= EARLIEST_EVENT && ms * 1000 < LATEST_EVENT) {
    hint = " (epoch seconds? timestamps are epoch milliseconds)";
  } else if (epoch && ms / 1000 >= EARLIEST_EVENT && ms / 1000 < LATEST_EVENT) {
    hint = " (epoch microseconds? timestamps are epoch milliseconds)";
  }
  return `timestamp ${shown} is outside ${RANGE}${hint}`;
}
