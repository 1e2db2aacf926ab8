/**
 * `simulate` replays interval and sliding periods the way the engine enforces
 * them: a sliding window looks back its length before the simulated period
 * (its events deny calls at the start of the period), and an interval period
 * resets from its anchor, not on the calendar.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { replayPeriod } from "../../src/cli/services/simulate/replay.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { SqliteUsageStore } from "../../src/engine/adapters/store/sqlite-usage-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(events: [customer: string, iso: string][]) {
  const dir = mkdtempSync(join(tmpdir(), "limitr-sim-periods-"));
  dirs.push(dir);
  const db = openDatabase(join(dir, "usage.db"), { create: true });
  const insert = db.prepare(
    "INSERT INTO events (id, type, customer, ts, value, properties) VALUES (?, ?, ?, ?, NULL, NULL)",
  );
  events.forEach(([customer, iso], i) => {
    insert.run(`e${i}`, "api.request", customer, Date.parse(iso));
  });
  return db;
}

function policy(period: unknown, limit: number) {
  return compilePolicy({
    limitr: 1,
    timezone: "UTC",
    meters: { calls: { event: "api.request", aggregation: "count" } },
    plans: { free: { default: true, entitlements: { api: { meter: "calls", limit, period } } } },
  });
}

const OCTOBER = { start: Date.parse("2026-10-01T00:00:00Z"), end: Date.parse("2026-11-01T00:00:00Z") };

describe("simulate replay of interval and sliding periods", () => {
  it("R6 a sliding window counts the hour before the simulated period and frees bucket by bucket", async () => {
    const db = store([
      ["c1", "2026-09-30T23:30:00Z"],
      ["c1", "2026-09-30T23:40:00Z"],
      ["c1", "2026-10-01T00:10:00Z"], // denied: two in the last hour already, limit 2
      ["c1", "2026-10-01T00:31:00Z"], // allowed: the 23:30 bucket left at 00:31
      ["c1", "2026-10-01T00:35:00Z"], // denied: 23:40 and 00:31 in the window
      ["c1", "2026-10-01T00:41:00Z"], // allowed
    ]);
    try {
      const [out] = await replayPeriod(new SqliteUsageStore(db), [policy({ sliding: "PT1H" }, 2)], OCTOBER);
      expect(out?.customers.get("c1")?.denied).toBe(2);
    } finally {
      db.close();
    }
  });

  it("R6 a first_use interval replays from the first use before the period", async () => {
    const db = store([
      ["c1", "2026-09-28T12:00:00Z"], // first use: weeks from here
      ["c1", "2026-09-29T12:00:00Z"], // denied (September: not tallied)
      ["c1", "2026-10-02T12:00:00Z"], // denied: still the first week, limit 1
      ["c1", "2026-10-05T12:00:00Z"], // allowed: the second week started at 12:00
    ]);
    try {
      const [out] = await replayPeriod(
        new SqliteUsageStore(db),
        [policy({ every: "P1W", anchor: "first_use" }, 1)],
        OCTOBER,
      );
      expect(out?.customers.get("c1")?.denied).toBe(1);
      // On the calendar, October starts afresh: the 2nd is allowed and the 5th denied.
      const [monthly] = await replayPeriod(new SqliteUsageStore(db), [policy("month", 1)], OCTOBER);
      expect(monthly?.customers.get("c1")?.deniedBy).toEqual({ api: 1 });
    } finally {
      db.close();
    }
  });
});
