import fc from "fast-check";
import { DateTime } from "luxon";
import { describe, expect, it } from "vitest";
import { EARLIEST_EVENT, eventTime, LATEST_EVENT } from "../../src/engine/core/usage/event-time.js";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** Valid calendar fields inside the accepted range. */
const fields = fc
  .record({
    year: fc.integer({ min: 2000, max: 2099 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    ms: fc.integer({ min: 0, max: 999 }),
  })
  .map((f) => ({ ...f, day: Math.min(f.day, daysIn(f.year, f.month)) }));

const isoOf = (f: {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}) => `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}T${pad(f.hour)}:${pad(f.minute)}:${pad(f.second)}`;

describe("event timestamps (ISO-8601, read strictly)", () => {
  it("a zoned date-time is that instant, whatever the offset form", () => {
    fc.assert(
      fc.property(fields, fc.integer({ min: -14 * 60, max: 14 * 60 }), (f, offset) => {
        const utc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second, f.ms);
        const sign = offset < 0 ? "-" : "+";
        const o = Math.abs(offset);
        const text = `${isoOf(f)}.${pad(f.ms, 3)}`;
        const expected = utc - offset * 60_000;
        const inRange = expected >= EARLIEST_EVENT && expected < LATEST_EVENT;
        for (const zone of [
          `${sign}${pad(Math.floor(o / 60))}:${pad(o % 60)}`,
          `${sign}${pad(Math.floor(o / 60))}${pad(o % 60)}`,
        ]) {
          const got = eventTime(`${text}${zone}`, "UTC");
          if (inRange) expect(got).toBe(expected);
          else expect(got).toMatch(/is outside/);
        }
        expect(eventTime(`${text}Z`, "UTC")).toBe(utc);
      }),
    );
  });

  it("a day past the end of its month is refused, never rolled over", () => {
    fc.assert(
      fc.property(fields, fc.integer({ min: 1, max: 3 }), fc.boolean(), (f, past, dateOnly) => {
        const day = daysIn(f.year, f.month) + past;
        if (day > 31) return;
        const text = dateOnly ? `${pad(f.year, 4)}-${pad(f.month)}-${pad(day)}` : `${isoOf({ ...f, day })}Z`;
        expect(eventTime(text, "UTC")).toBe(
          `bad timestamp "${text}": ${pad(f.year, 4)}-${pad(f.month)} has no day ${pad(day)}`,
        );
      }),
    );
  });

  it("a time or date without an offset is read in the policy timezone", () => {
    const zone = "America/New_York";
    fc.assert(
      fc.property(fields, (f) => {
        const wall = DateTime.fromObject(
          { year: f.year, month: f.month, day: f.day, hour: f.hour, minute: f.minute, second: f.second },
          { zone },
        );
        expect(eventTime(isoOf(f), zone)).toBe(wall.toMillis());
        const midnight = DateTime.fromObject({ year: f.year, month: f.month, day: f.day }, { zone });
        expect(eventTime(`${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}`, zone)).toBe(midnight.toMillis());
      }),
    );
  });

  it("epoch milliseconds are accepted inside [2000, 2100) only, as a number or digits", () => {
    fc.assert(
      fc.property(fc.integer({ min: EARLIEST_EVENT, max: LATEST_EVENT - 1 }), (ms) => {
        expect(eventTime(ms, "UTC")).toBe(ms);
        expect(eventTime(String(ms), "UTC")).toBe(ms);
      }),
    );
    expect(eventTime(EARLIEST_EVENT - 1, "UTC")).toMatch(/is outside/);
    expect(eventTime(LATEST_EVENT, "UTC")).toMatch(/is outside/);
    expect(eventTime(1.5e12 + 0.5, "UTC")).toMatch(/whole number/);
    expect(eventTime(1_790_935_200_000_000, "UTC")).toMatch(/epoch microseconds\?/);
  });
});
