/**
 * `limitr usage` and alert figures read time_weighted meters through
 * `aggregateMeter`: the integral of the readings per customer and bucket,
 * the last reading before the window carried in.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { aggregateMeter } from "../../src/engine/adapters/store/usage-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("§15 time_weighted usage queries", () => {
  it("integrates each bucket, carrying the reading before the window and across buckets", () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-tw-"));
    dirs.push(dir);
    const db = openDatabase(join(dir, "usage.db"), { create: true });
    const insert = db.prepare(
      "INSERT INTO events (id, type, customer, ts, value, properties) VALUES (?, 'seats.reading', ?, ?, NULL, ?)",
    );
    const at = (iso: string) => Date.parse(iso);
    insert.run("a", "c1", at("2026-09-30T00:00:00Z"), JSON.stringify({ seats: 4 }));
    insert.run("b", "c1", at("2026-10-02T12:00:00Z"), JSON.stringify({ seats: 10 }));
    insert.run("c", "c2", at("2026-10-03T00:00:00Z"), JSON.stringify({ seats: 1 }));
    const policy = compilePolicy({
      limitr: 1,
      meters: {
        seats: { event: "seats.reading", aggregation: "time_weighted", property: "seats", unit_time: "day" },
      },
    });
    const meter = policy.meters.seats;
    if (!meter) throw new Error("meter not compiled");
    const days = [at("2026-10-01T00:00:00Z"), at("2026-10-02T00:00:00Z"), at("2026-10-03T00:00:00Z")];
    try {
      const rows = aggregateMeter(db, {
        meter,
        window: { start: days[0] as number, end: at("2026-10-04T00:00:00Z") },
        buckets: days,
      });
      const q = (customer: string, bucket: number) =>
        rows.find((r) => r.customer === customer && r.bucket === bucket)?.q;
      // c1: 4 seats carried in from September; 10 from noon on the 2nd.
      expect([q("c1", 0), q("c1", 1), q("c1", 2)]).toEqual([4, 7, 10]);
      expect([q("c2", 0), q("c2", 1), q("c2", 2)]).toEqual([0, 0, 1]);
    } finally {
      db.close();
    }
  });
});
