import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { billJson } from "../../src/cli/commands/bill-render.js";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { runBill } from "../../src/engine/adapters/store/bill-run.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { listRollups } from "../../src/engine/adapters/store/rollups.js";
import { SqliteUsageStore } from "../../src/engine/adapters/store/sqlite-usage-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { type NamedPeriod, parsePeriod } from "../../src/engine/core/periods.js";
import { Limitr } from "../../src/engine/index.js";

/** Events the engine records reach the rollups in its own write-behind flush. */
describe("usage rollups and the engine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-rollups-engine-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("the engine's flushes maintain rollups a bill registered while it ran; the bill equals a scan", async () => {
    const policy = loadValidPolicy("policies");
    const file = join(dir, "usage.db");
    const period = parsePeriod("2026-10", policy.timezone) as NamedPeriod;
    const engine = await Limitr.open({ policy, store: `sqlite:${file}`, durability: "sync" });
    const at = (iso: string) => Date.parse(iso);
    engine.setPlan("dave", "pro", { at: at("2026-09-01T04:00:00Z") });
    engine.setPlan("erin", "pro", { at: at("2026-09-01T04:00:00Z") });
    engine.decide("dave", "api", 100, { now: at("2026-10-05T15:00:00Z") });
    engine.decide("erin", "mcp_search", 600, { now: at("2026-10-06T15:00:00Z") });
    // Percentage with free_events: 3: the first three payments of the month are free.
    engine.setPlan("fay", "enterprise", { at: at("2026-09-01T04:00:00Z") });
    for (const [hour, usd] of [
      [15, 40],
      [16, 50],
      [17, 60],
      [18, 70],
    ] as const)
      engine.decide("fay", "agent_payments", usd, { now: at(`2026-10-05T${hour}:00:00Z`) });
    await engine.flush();

    // A bill while the engine runs: registers and builds the policy's rollups.
    const reader = openDatabase(file);
    const bill = async (rollups: boolean) =>
      JSON.stringify(
        billJson(
          await runBill(new SqliteUsageStore(reader, { rollups }), policy, period, { recordCredits: false }),
          policy.timezone,
        ),
      );
    expect(await bill(true)).toBe(await bill(false));
    const built = listRollups(reader);
    expect(built.length).toBeGreaterThan(0);

    // More usage, some of it late (an earlier day of the month): the engine's flush folds it in.
    engine.decide("dave", "api", 20, { now: at("2026-10-20T15:00:00Z") });
    engine.decide("dave", "api", 7, { now: at("2026-10-02T15:00:00Z") });
    engine.decide("erin", "mcp_search", 40, { now: at("2026-10-21T15:00:00Z") });
    // Earlier the same day than fay's first payments: it is now among the first three.
    engine.decide("fay", "agent_payments", 1000, { now: at("2026-10-05T13:00:00Z") });
    await engine.flush();
    const max = reader.prepare("SELECT MAX(seq) FROM events").pluck().get() as number;
    expect(max).toBeGreaterThan(built[0]?.through ?? 0);
    // Every registered rollup already holds every event, with no reader catching up.
    expect(listRollups(reader).map((d) => d.through)).toEqual(built.map(() => max));

    const rolled = await bill(true);
    expect(rolled).toBe(await bill(false));
    const dave = JSON.parse(rolled).invoices.find((i: { customer: string }) => i.customer === "dave");
    expect(
      dave.lines.find(
        (l: { entitlement: string; kind: string }) => l.entitlement === "api" && l.kind === "usage",
      )?.quantity,
    ).toBe("127");
    // fay's first payments kept by the rollup: 13:00, 15:00, 16:00 (the late one displaced 17:00).
    const payments = reader
      .prepare("SELECT v FROM rollup_firsts WHERE customer = 'fay' ORDER BY ts, id")
      .pluck()
      .all();
    expect(payments).toEqual([1000, 40, 50]);
    const fay = JSON.parse(rolled).invoices.find((i: { customer: string }) => i.customer === "fay");
    const line = fay.lines.find(
      (l: { entitlement: string; kind: string }) => l.entitlement === "agent_payments" && l.kind === "usage",
    );
    // 1% of (1220 - 1090) + 2 x 0.10 fees.
    expect(line?.amount).toBe("1.50");
    await engine.close();
    reader.close();
  });
  it("two plans asking different free_events of one meter are rated from the one answer for the larger", async () => {
    const policy = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { pay: { event: "purchase", aggregation: "sum", property: "amount" } },
      plans: {
        one: {
          default: true,
          entitlements: {
            pay: { meter: "pay", mode: "observe", price: { model: "percentage", rate: 1, free_events: 1 } },
          },
        },
        three: {
          entitlements: {
            pay: { meter: "pay", mode: "observe", price: { model: "percentage", rate: 1, free_events: 3 } },
          },
        },
      },
    });
    const file = join(dir, "usage.db");
    const period = parsePeriod("2026-10", "UTC") as NamedPeriod;
    const engine = await Limitr.open({ policy, store: `sqlite:${file}`, durability: "sync" });
    const at = (iso: string) => Date.parse(iso);
    engine.setPlan("ann", "one", { at: at("2026-09-01T00:00:00Z") });
    engine.setPlan("bob", "three", { at: at("2026-09-01T00:00:00Z") });
    // Two days, so a window's first events come from more than one day's kept events.
    for (const customer of ["ann", "bob"])
      for (const [day, usd] of [
        [3, 100],
        [4, 10],
        [4, 20],
        [4, 30],
        [5, 1000],
      ] as const)
        engine.decide(customer, "pay", usd, {
          now: at(`2026-10-0${day}T12:00:${String(usd % 60).padStart(2, "0")}Z`),
        });
    await engine.flush();
    const reader = openDatabase(file);
    const bill = async (rollups: boolean) =>
      billJson(
        await runBill(new SqliteUsageStore(reader, { rollups }), policy, period, { recordCredits: false }),
        "UTC",
      );
    const rolled = await bill(true);
    expect(JSON.stringify(rolled)).toBe(JSON.stringify(await bill(false)));
    const amount = (customer: string) =>
      rolled.invoices
        .find((i: { customer: string }) => i.customer === customer)
        ?.lines.find((l: { kind: string }) => l.kind === "usage")?.amount;
    // 1% of 1160 less the first one (100) and less the first three (100, 10, 20).
    expect(amount("ann")).toBe("10.60");
    expect(amount("bob")).toBe("10.30");
    // The rollup keeps the larger of the two: three a day.
    expect(reader.prepare("SELECT MAX(first_n) FROM rollup_defs").pluck().get()).toBe(3);
    await engine.close();
    reader.close();
  });
});
