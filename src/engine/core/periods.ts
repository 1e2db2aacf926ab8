import { DateTime, IANAZone } from "luxon";
import type { Anchor, Interval, IsoDate, PeriodUnit } from "./model.js";

/**
 * Calendar arithmetic in the policy timezone (SPEC R6). Every window is
 * half-open [start, end) in epoch milliseconds. Time is always passed in.
 */
export interface Window {
  start: number;
  end: number;
}

/** `lifetime` never resets: it spans all representable time. */
export const LIFETIME: Window = Object.freeze({ start: -8.64e15, end: 8.64e15 });

let canonicalZones: ReadonlySet<string> | null = null;

/**
 * Whether `zone` names a time zone the runtime knows. The runtime's list of
 * canonical zones answers most names (`America/New_York`) in 2 ms; only a
 * name not on it (an alias such as `US/Eastern`, `UTC`, another spelling, or
 * no zone at all) is tried with a formatter, whose first creation loads the
 * locale data (about 15 ms), as luxon does.
 */
export function isValidTimezone(zone: string): boolean {
  canonicalZones ??= new Set(globalThis.Intl?.supportedValuesOf?.("timeZone") ?? []);
  return canonicalZones.has(zone) || IANAZone.isValidZone(zone);
}

function at(ms: number, zone: string): DateTime {
  return DateTime.fromMillis(ms, { zone });
}

const CALENDAR_UNIT = {
  hour: "hour",
  day: "day",
  week: "week",
  month: "month",
  quarter: "quarter",
  year: "year",
} as const;

const HOUR = 3_600_000;

/** The latest instant <= ms whose local minute and second are 0 (offsets may change in between). */
function localHourStart(ms: number, zone: IANAZone): number {
  let s = ms;
  for (let i = 0; i < 4; i++) {
    const local = s + zone.offset(s) * 60_000;
    const past = ((local % HOUR) + HOUR) % HOUR;
    if (past === 0) return s;
    s -= past;
  }
  return s;
}

/**
 * Hour windows by instant arithmetic: an hour starts at each instant whose
 * local minute is 0. luxon's startOf("hour") picks the wrong offset inside a
 * repeated half hour (Australia/Lord_Howe falls back 30 minutes), which left
 * an instant outside its own window. So the repeated 1am of a one-hour
 * fall-back is two windows, and a 30-minute shift makes one 90-minute hour.
 */
function hourWindow(ms: number, zoneName: string): Window {
  const zone = IANAZone.create(zoneName);
  const start = localHourStart(ms, zone);
  let probe = start + HOUR;
  let end = localHourStart(probe, zone);
  while (end <= start) {
    probe += HOUR / 2;
    end = localHourStart(probe, zone);
  }
  return { start, end };
}

/**
 * Windows already computed, by unit, zone and instant. Rating asks for the
 * same day boundaries for every customer, and each luxon answer in a named
 * zone costs an Intl round trip; a bounded memo of a pure function keeps a
 * month's bill of thousands of customers from spending most of its time there.
 */
const windows = new Map<string, Window>();
const WINDOW_MEMO = 8192;

/** The calendar window of `unit` containing `ms` (weeks start on Monday, ISO 8601). */
export function calendarWindow(
  unit: Exclude<PeriodUnit, "billing" | "lifetime">,
  ms: number,
  zone: string,
): Window {
  const key = `${unit} ${zone} ${ms}`;
  const known = windows.get(key);
  if (known) return known;
  if (windows.size >= WINDOW_MEMO) windows.clear();
  const w = Object.freeze(computeCalendarWindow(unit, ms, zone));
  windows.set(key, w);
  return w;
}

function computeCalendarWindow(
  unit: Exclude<PeriodUnit, "billing" | "lifetime">,
  ms: number,
  zone: string,
): Window {
  if (unit === "hour") return hourWindow(ms, zone);
  const u = CALENDAR_UNIT[unit];
  const start = at(ms, zone).startOf(u);
  // startOf again: when the period began at a shifted time (Santiago's missing midnight starts the day at 01:00),
  // adding one unit keeps that wall time, while the next period may start at its own, real, midnight.
  return {
    start: start.toMillis(),
    end: start
      .plus({ [`${u}s`]: 1 })
      .startOf(u)
      .toMillis(),
  };
}

/**
 * The billing period containing `ms`. Calendar anchors align to the interval's
 * calendar boundaries; anniversary anchors count whole intervals from `since`
 * (start of that day in the zone), clamping to month ends the way Stripe does
 * (an anchor on the 31st bills on Feb 28/29, then the 31st again).
 */
export function billingWindow(
  interval: Interval,
  anchor: Anchor,
  since: IsoDate | null,
  ms: number,
  zone: string,
): Window {
  if (anchor === "calendar" || since === null) return calendarWindow(interval, ms, zone);
  const origin = DateTime.fromISO(since, { zone }).startOf("day");
  const key = `${interval}s` as const;
  const nth = (n: number) => origin.plus({ [key]: n });
  // Estimate the index, then step to the exact window (the estimate is off by at most one).
  const approxDays = { day: 1, week: 7, month: 30.436875, year: 365.2425 }[interval];
  let n = Math.floor((ms - origin.toMillis()) / (approxDays * 86_400_000));
  while (nth(n).toMillis() > ms) n--;
  while (nth(n + 1).toMillis() <= ms) n++;
  return { start: nth(n).toMillis(), end: nth(n + 1).toMillis() };
}

/** The window of an entitlement's `period` containing `ms`. `billing` needs the plan's interval/anchor. */
export function periodWindow(
  period: PeriodUnit,
  ms: number,
  zone: string,
  billing: { interval: Interval; anchor: Anchor; since: IsoDate | null },
): Window {
  if (period === "lifetime") return LIFETIME;
  if (period === "billing") return billingWindow(billing.interval, billing.anchor, billing.since, ms, zone);
  return calendarWindow(period, ms, zone);
}

/** Start of the calendar day containing `ms`, as `YYYY-MM-DD` in the zone. */
export function isoDate(ms: number, zone: string): IsoDate {
  return at(ms, zone).toISODate() as IsoDate;
}

/** Epoch ms of the start of `date` in the zone. */
export function startOfDate(date: IsoDate, zone: string): number {
  return DateTime.fromISO(date, { zone }).startOf("day").toMillis();
}

/** Epoch ms of the end (exclusive) of `date` in the zone: the start of the next day. */
export function endOfDate(date: IsoDate, zone: string): number {
  return DateTime.fromISO(date, { zone }).startOf("day").plus({ days: 1 }).toMillis();
}

/** Whole calendar days in [start, end) in the zone (DST days count as one day). */
export function wholeDays(start: number, end: number, zone: string): number {
  const a = at(start, zone).startOf("day");
  const b = at(end, zone).startOf("day");
  return Math.round(b.diff(a, "days").days);
}

/** A period given on the command line: `2026-10`, `2026-Q4`, `2026`, or an ISO date `2026-10-05`. */
export interface NamedPeriod extends Window {
  label: string;
}

export function parsePeriod(text: string, zone: string): NamedPeriod | null {
  let m = /^(\d{4})-(\d{2})$/.exec(text);
  if (m) {
    const d = DateTime.fromObject({ year: Number(m[1]), month: Number(m[2]) }, { zone });
    if (!d.isValid) return null;
    return { label: text, start: d.toMillis(), end: d.plus({ months: 1 }).toMillis() };
  }
  m = /^(\d{4})-[Qq]([1-4])$/.exec(text);
  if (m) {
    const d = DateTime.fromObject({ year: Number(m[1]), month: (Number(m[2]) - 1) * 3 + 1 }, { zone });
    return { label: `${m[1]}-Q${m[2]}`, start: d.toMillis(), end: d.plus({ months: 3 }).toMillis() };
  }
  m = /^(\d{4})$/.exec(text);
  if (m) {
    const d = DateTime.fromObject({ year: Number(m[1]) }, { zone });
    return { label: text, start: d.toMillis(), end: d.plus({ years: 1 }).toMillis() };
  }
  m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m) {
    const d = DateTime.fromISO(text, { zone });
    if (!d.isValid) return null;
    return { label: text, start: d.toMillis(), end: d.plus({ days: 1 }).toMillis() };
  }
  return null;
}

/**
 * Parse an instant: ISO-8601 (an offset-less time is read in `zone`), or epoch
 * milliseconds (a number, or a string of digits). Returns null when invalid.
 */
export function parseInstant(value: string | number, zone: string): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? Math.trunc(value) : null;
  if (/^-?\d{10,}$/.test(value)) return Number(value);
  const d = DateTime.fromISO(value, { zone, setZone: false });
  return d.isValid ? d.toMillis() : null;
}

/** ISO text of an instant in the zone, with its offset (`2026-10-01T00:00:00.000+02:00`). */
export function formatInstant(ms: number, zone: string): string {
  return at(ms, zone).toISO() as string;
}
