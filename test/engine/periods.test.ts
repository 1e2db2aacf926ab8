import fc from "fast-check";
import { IANAZone } from "luxon";
import { describe, expect, it } from "vitest";
import type { PeriodUnit } from "../../src/engine/core/model.js";
import { isValidTimezone, periodWindow } from "../../src/engine/core/periods.js";

const ZONES = [
  "UTC",
  "America/New_York",
  "Europe/London",
  "Asia/Kolkata",
  "Australia/Lord_Howe",
  "America/Santiago",
];
const UNITS: PeriodUnit[] = ["hour", "day", "week", "month", "quarter", "year"];
const FROM = Date.UTC(2020, 0, 1);
const TO = Date.UTC(2032, 0, 1);
// Instants around DST changes (New York, London, Lord Howe's 30-minute shift, Santiago's midnight shift).
const TRANSITIONS = [
  "2026-03-08T07:00:00Z",
  "2026-11-01T06:00:00Z",
  "2026-03-29T01:00:00Z",
  "2026-10-25T01:00:00Z",
  "2026-04-04T15:00:00Z",
  "2026-10-03T15:30:00Z",
  "2026-04-05T03:00:00Z",
  "2026-09-06T04:00:00Z",
].map(Date.parse);
const instant = fc.oneof(
  fc.integer({ min: FROM, max: TO }),
  fc
    .tuple(fc.constantFrom(...TRANSITIONS), fc.integer({ min: -26 * 3_600_000, max: 26 * 3_600_000 }))
    .map(([t, d]) => t + d),
);
const billing = { interval: "month", anchor: "calendar", since: null } as const;

describe("R6 period windows", () => {
  it("R6 calendar windows contain their instant and partition time (next window starts where one ends)", () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), fc.constantFrom(...UNITS), (ms, zone, unit) => {
        const w = periodWindow(unit, ms, zone, billing);
        expect(w.start).toBeLessThanOrEqual(ms);
        expect(ms).toBeLessThan(w.end);
        expect(periodWindow(unit, w.end, zone, billing).start).toBe(w.end);
        expect(periodWindow(unit, w.end - 1, zone, billing)).toEqual(w);
      }),
      { numRuns: 5000 },
    );
  });

  it("R6 anniversary billing windows partition time and clamp day 31 to short months", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: FROM, max: TO }),
        fc.constantFrom("2020-01-31", "2024-02-29", "2026-03-30", "2026-11-01"),
        fc.constantFrom("UTC", "America/New_York"),
        (ms, since, zone) => {
          const b = { interval: "month", anchor: "anniversary", since } as const;
          const w = periodWindow("billing", ms, zone, b);
          if (ms >= w.start) {
            expect(ms).toBeLessThan(w.end);
            expect(periodWindow("billing", w.end, zone, b).start).toBe(w.end);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("R6 New York days are 23 hours on spring-forward day and 25 on fall-back day", () => {
    const day = (iso: string) => periodWindow("day", Date.parse(iso), "America/New_York", billing);
    const spring = day("2026-03-08T12:00:00Z");
    const fall = day("2026-11-01T12:00:00Z");
    expect((spring.end - spring.start) / 3_600_000).toBe(23);
    expect((fall.end - fall.start) / 3_600_000).toBe(25);
    expect(new Date(spring.start).toISOString()).toBe("2026-03-08T05:00:00.000Z");
  });

  it("R6 an instant in Lord Howe's repeated half hour lies inside its own hour window", () => {
    const ms = Date.parse("2026-04-04T15:00:00Z"); // 02:00 +11 falls back to 01:30 +10:30
    const w = periodWindow("hour", ms, "Australia/Lord_Howe", billing);
    expect(w.start).toBeLessThanOrEqual(ms);
    expect(w.end).toBeGreaterThan(ms);
    expect(new Date(w.start).toISOString()).toBe("2026-04-04T14:00:00.000Z");
    expect(new Date(w.end).toISOString()).toBe("2026-04-04T15:30:00.000Z");
  });

  it("R6 Santiago's day without a midnight ends at the next real midnight (23 hours)", () => {
    const w = periodWindow("day", Date.parse("2026-09-06T12:00:00Z"), "America/Santiago", billing);
    expect(new Date(w.start).toISOString()).toBe("2026-09-06T04:00:00.000Z");
    expect(new Date(w.end).toISOString()).toBe("2026-09-07T03:00:00.000Z");
  });
});

describe("policy time zones", () => {
  it("a zone is valid exactly when the runtime can format in it (canonical names, aliases, other spellings)", () => {
    const names = [
      ...Intl.supportedValuesOf("timeZone"),
      "UTC",
      "Etc/UTC",
      "GMT",
      "US/Eastern",
      "Asia/Calcutta",
      "america/new_york",
      "EUROPE/PARIS",
      "Etc/GMT+5",
      "+05:00",
      "Mars/Olympus",
      "America/New York",
      "Local",
      "",
    ];
    for (const zone of names)
      expect([zone, isValidTimezone(zone)]).toEqual([zone, IANAZone.isValidZone(zone)]);
  });
});
