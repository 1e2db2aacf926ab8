/**
 * The pure parts of interval periods and time-weighted meters: ISO durations,
 * interval windows that partition time, and the exact integral of readings.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dec } from "../../src/engine/core/money.js";
import { parseDuration } from "../../src/engine/core/periods/duration.js";
import { intervalWindow } from "../../src/engine/core/periods/interval.js";
import { integrateReadings } from "../../src/engine/core/usage/time-weighted.js";

const H = 3_600_000;
const T0 = Date.parse("2026-10-01T00:00:00Z");

describe("ISO durations of interval and sliding periods", () => {
  it.each([
    ["P30D", 30 * 24 * H],
    ["P1W", 7 * 24 * H],
    ["PT6H", 6 * H],
    ["P1DT12H", 36 * H],
    ["PT30M", H / 2],
    ["PT90S", 90_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ms });
  });

  it.each([
    ["30 days", "not an ISO 8601 duration"],
    ["P1M", "months or years"],
    ["P1Y", "months or years"],
    ["P", "not an ISO 8601 duration"],
    ["PT", "not an ISO 8601 duration"],
    ["P0D", "zero"],
  ])("%s is refused (%s)", (text, why) => {
    const r = parseDuration(text);
    expect("problem" in r && r.problem).toContain(why);
  });
});

describe("R6 interval windows", () => {
  it("R6 interval windows partition time: each instant is in exactly one, and the next starts where it ends", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e12 }),
        fc.integer({ min: 60_000, max: 90 * 24 * H }),
        fc.integer({ min: -1e12, max: 1e12 }),
        (anchor, every, offset) => {
          const t = anchor + offset;
          const w = intervalWindow(anchor, every, t);
          expect(w.start).toBeLessThanOrEqual(t);
          expect(t).toBeLessThan(w.end);
          expect(w.end - w.start).toBe(every);
          expect(Math.abs((w.start - anchor) % every)).toBe(0);
          expect(intervalWindow(anchor, every, w.end).start).toBe(w.end);
        },
      ),
    );
  });
});

describe("§15 time-weighted integration", () => {
  it("integrates to the second, a carried-in reading holding from the start", () => {
    // 10 GB carried in, 40 GB from 10-16, 20 GB from 10-20 06:30:18: GB-hours of October.
    const readings: [number, number][] = [
      [Date.parse("2026-10-16T00:00:00Z"), 40],
      [Date.parse("2026-10-20T06:30:18Z"), 20],
    ];
    const q = integrateReadings(readings, 10, T0, Date.parse("2026-11-01T00:00:00Z"), "hour");
    expect(q.toString()).toBe("13330.1");
    // One second of 1 seat is 1/86400 of a seat-day (rounded to 9 places).
    expect(integrateReadings([[T0, 1]], null, T0, T0 + 1000, "day").toString()).toBe("0.000011574");
    // Nothing held before the first reading.
    expect(integrateReadings([[T0 + H, 5]], null, T0, T0 + 2 * H, "hour").toString()).toBe("5");
  });

  it("is additive: [a, b) plus [b, c) equals [a, c) (to the 9-place rounding)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 * 24 * H }), fc.integer({ min: 0, max: 10_000 })), {
          maxLength: 30,
        }),
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
        fc.integer({ min: 0, max: 30 * 24 * H }),
        (raw, carry, cut) => {
          const readings = raw.map(([t, v]) => [T0 + t, v] as [number, number]).sort((a, b) => a[0] - b[0]);
          const end = T0 + 30 * 24 * H;
          const whole = integrateReadings(readings, carry, T0, end, "hour");
          const left = integrateReadings(readings, carry, T0, T0 + cut, "hour");
          const right = integrateReadings(readings, carry, T0 + cut, end, "hour");
          expect(whole.minus(left.plus(right)).abs().lte(dec("0.000000002"))).toBe(true);
        },
      ),
    );
  });
});
