import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { dayStarts, quantityOf } from "../../src/engine/adapters/store/bill-usage.js";
import { type Db, openDatabase } from "../../src/engine/adapters/store/database.js";
import { catchUp, listRollups } from "../../src/engine/adapters/store/rollups.js";
import { SqliteUsageStore } from "../../src/engine/adapters/store/sqlite-usage-store.js";
import { aggregateUsage } from "../../src/engine/adapters/store/usage-query.js";
import { ratingMeters } from "../../src/engine/core/credits/rating.js";
import { calendarWindow, type NamedPeriod, parsePeriod } from "../../src/engine/core/periods.js";
import type { UsageEvent } from "../../src/engine/core/usage/event.js";
import { meterFingerprint, rollupDefinition } from "../../src/engine/core/usage/rollup-key.js";
import type { AggregateRow, DailyUsage, FirstEvents } from "../../src/engine/core/usage/store-port.js";
import { policyFrom } from "../billing/helpers.js";

const policy = policyFrom(`
limitr: 1
name: rollups
timezone: America/New_York
meters:
  input_tokens: { event: llm, aggregation: sum, property: input_tokens, cost: { by: model, rates: { a: 0.001 }, default: 0.002 } }
  calls: { event: llm, aggregation: count }
  payments: { event: [buy, refund], aggregation: sum, property: amount }
  peak: { event: [gauge, gauge2], aggregation: max, property: level }
  last: { event: [gauge, gauge2], aggregation: latest, property: level }
  users: { event: seat, aggregation: unique_count, property: user }
  searches: { event: tool, aggregation: count, where: { tool: [search] } }
  seats: { event: seat.reading, aggregation: time_weighted, property: seats, unit_time: day }
plans:
  pro:
    price: 10
    entitlements:
      pay: { meter: payments, mode: observe, price: { model: percentage, rate: 1, free_events: 2 } }
`);
const zone = policy.timezone;
const october = parsePeriod("2026-10", zone) as NamedPeriod;
const dayMs = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), "limitr-rollups-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const arbEvent = fc
  .record({
    id: fc.integer({ min: 0, max: 60 }),
    customer: fc.constantFrom("acme", "beta", "zeta"),
    type: fc.constantFrom("llm", "buy", "refund", "gauge", "gauge2", "seat", "tool", "seat.reading", "other"),
    // Late September to early November: around both month edges and the DST change of 1 Nov.
    ts: fc.integer({ min: Date.UTC(2026, 8, 29), max: Date.UTC(2026, 10, 3) }),
    // A tie at one instant (ordered by id) or a busy morning: acme's days holding more events than
    // the first ones kept, arriving out of order across batches.
    when: fc.constantFrom("any", "any", "tie", "busy"),
    busy: fc.integer({ min: 0, max: 6 * 3_600_000 }),
    hot: fc.constantFrom("buy", "refund", "llm"),
    model: fc.constantFrom("a", "b", undefined),
    n: fc.integer({ min: -50, max: 1000 }),
    half: fc.boolean(),
    user: fc.constantFrom("u1", "u2", "u3", undefined),
    tool: fc.constantFrom("search", "browse"),
  })
  .map((r): UsageEvent => {
    const ts =
      r.when === "tie"
        ? Date.UTC(2026, 9, 10, 12)
        : r.when === "busy"
          ? Date.UTC(2026, 9, 10, 10) + r.busy
          : r.ts;
    const props: Record<string, unknown> = {
      input_tokens: r.n,
      // Cents: sums of doubles would depend on the order they are added in.
      amount: r.half ? r.n / 100 : r.n,
      level: r.n % 7,
      tool: r.tool,
      seats: Math.abs(r.n % 5),
    };
    if (r.model !== undefined) props.model = r.model;
    if (r.user !== undefined) props.user = r.user;
    return {
      id: `e${r.id}`,
      type: r.when === "any" ? r.type : r.hot,
      customer: r.when === "any" ? r.customer : "acme",
      ts,
      value: r.type === "llm" && r.half ? 2 : null,
      properties: JSON.stringify(props),
    } as UsageEvent;
  });

/** Everything a bill reads of a usage lookup, as comparable text. */
function lookups(usage: DailyUsage, start: number, end: number): string[] {
  const out: string[] = [...[...usage.customers].sort()];
  const customers = ["acme", "beta", "zeta"];
  const windows: [number, number][] = [[start, end]];
  // Day-aligned sub-windows, incl. single days and across the DST change.
  for (let t = start; t < end; t = calendarWindow("day", t + 7 * dayMs, zone).start)
    windows.push([t, Math.min(end, calendarWindow("day", t + 3 * dayMs, zone).start)]);
  for (const meter of ratingMeters(policy))
    for (const members of [...customers.map((c) => [c]), customers])
      for (const [s, e] of windows) {
        const u = usage.lookup({ account: members.join("+"), members, meter: meter.id, start: s, end: e });
        const dims = [...u.byDim].map(([k, v]) => `${k}=${v.toString()}`).sort();
        out.push(
          `${meter.id} ${members} ${s}-${e}: ${u.quantity.toString()} n=${u.events} ${dims.join(",")}`,
        );
      }
  return out;
}

function rows(r: AggregateRow[]): string[] {
  return r
    .map(
      (x) =>
        `${x.customer} ${x.bucket} ${x.dim === null ? "-" : String(x.dim)} ${quantityOf(x.q === null ? null : Number(x.q)).toString()} ${x.n}`,
    )
    .sort();
}

async function compare(db: Db): Promise<void> {
  const rolled = new SqliteUsageStore(db);
  const scanned = new SqliteUsageStore(db, { rollups: false });
  // The billed month, and a pricing piece starting mid-day (partial first and last days are scanned).
  const periods = [october, { start: october.start + 5 * dayMs + 3_600_000, end: october.end - 7_200_000 }];
  for (const period of periods) {
    expect(lookups(await rolled.dailyUsage(policy, period), period.start, period.end)).toEqual(
      lookups(await scanned.dailyUsage(policy, period), period.start, period.end),
    );
  }
  for (const groupBy of ["customer", "day", "meter"]) {
    const query = { period: october, groupBy };
    expect(await aggregateUsage(policy, rolled, query)).toEqual(await aggregateUsage(policy, scanned, query));
  }
  const days: number[] = [];
  for (let t = october.start; t < october.end; t = calendarWindow("day", t, zone).end) days.push(t);
  for (const meter of Object.values(policy.meters)) {
    if (meter.aggregation === "time_weighted" || meter.aggregation === "latest") continue;
    for (const spec of [
      { meter, window: october, zone },
      { meter, window: october, zone, buckets: days, distinctValues: true },
      { meter, window: october, zone, customers: ["beta"] },
    ]) {
      expect(rows(await rolled.aggregateMeter(spec))).toEqual(rows(await scanned.aggregateMeter(spec)));
    }
  }
  // latest: compared on the value (SQL MAX(ts) counts events with a non-numeric value too).
  const last = policy.meters.last as (typeof policy.meters)[string];
  const latest = (r: AggregateRow[]) =>
    r.map((x) => `${x.customer} ${x.bucket} ${quantityOf(x.q === null ? null : Number(x.q))}`).sort();
  expect(latest(await rolled.aggregateMeter({ meter: last, window: october, zone, buckets: days }))).toEqual(
    latest(await scanned.aggregateMeter({ meter: last, window: october, zone, buckets: days })),
  );
}

/** A store's first events as comparable text: customer, day index, then (ts, id, value) in order. */
function leads(first: FirstEvents): string[] {
  const out: string[] = [];
  for (const [customer, perDay] of first)
    perDay.forEach((list, i) => {
      if (list?.length) out.push(`${customer} ${i}: ${list.map((e) => `${e.ts}/${e.id}/${e.v}`).join(" ")}`);
    });
  return out.sort();
}

/** `firstEvents` from rollups equals the windowed scan of the events, for whole months and pieces of them. */
async function compareFirsts(db: Db, sizes: number[]): Promise<void> {
  const rolled = new SqliteUsageStore(db);
  const scanned = new SqliteUsageStore(db, { rollups: false });
  const periods = [october, { start: october.start + 5 * dayMs + 3_600_000, end: october.end - 7_200_000 }];
  for (const period of periods) {
    const days = dayStarts(period, zone);
    for (const meter of ratingMeters(policy))
      for (const n of sizes) {
        if (meter.aggregation === "time_weighted") continue;
        expect(leads(await rolled.firstEvents(meter, period, days, n, zone))).toEqual(
          leads(await scanned.firstEvents(meter, period, days, n, zone)),
        );
      }
  }
}

function rawInsert(db: Db, events: UsageEvent[]): void {
  const put = db.prepare(
    "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties) VALUES (?, ?, ?, ?, ?, ?)",
  );
  for (const e of events) put.run(e.id, e.type, e.customer, e.ts, e.value, e.properties);
}

describe("usage rollups", () => {
  it("equal a full scan after random imports, re-imports, duplicates and late events", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            events: fc.array(arbEvent, { maxLength: 25 }),
            // After this batch: read (registering and building rollups), and how the batch is written.
            read: fc.boolean(),
            first: fc.boolean(),
            how: fc.constantFrom("import", "import", "reimport", "raw"),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (batches) => {
          const db = openDatabase(":memory:", { create: true });
          try {
            const store = new SqliteUsageStore(db);
            const payments = policy.meters.payments as (typeof policy.meters)[string];
            let previous: UsageEvent[] = [];
            for (const b of batches) {
              // Ids are unique per store: a known id is a duplicate (R13), even with other content.
              if (b.how === "raw") rawInsert(db, b.events);
              else await store.insertEvents(b.how === "reimport" ? [...previous, ...b.events] : b.events);
              previous = b.events;
              // dailyUsage keeps the policy's 2 first events per day; a bill asking for 3 rebuilds keeping 3.
              if (b.read) await store.dailyUsage(policy, october);
              if (b.first) await store.firstEvents(payments, october, dayStarts(october, zone), 3, zone);
            }
            await compare(db);
            // No rollup day keeps more first events than its definition's first_n.
            const over = db
              .prepare(
                "SELECT COUNT(*) AS n, first_n FROM rollup_firsts JOIN rollup_defs USING (fp) GROUP BY fp, day, customer HAVING n > first_n",
              )
              .all();
            expect(over).toEqual([]);
            // Kept as maintained (2 or 3 per day), then asking for more (a rebuild) and for fewer.
            await compareFirsts(db, [2, 5]);
          } finally {
            db.close();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it("are built once, then maintained by imports in the same transaction", async () => {
    const db = openDatabase(join(dir, "maintained.db"), { create: true });
    const store = new SqliteUsageStore(db);
    const ev = (id: string, ts: number, n: number): UsageEvent =>
      ({
        id,
        type: "llm",
        customer: "acme",
        ts,
        value: null,
        properties: JSON.stringify({ input_tokens: n, model: "a" }),
      }) as UsageEvent;
    await store.insertEvents([ev("a", october.start + 1000, 5), ev("b", october.start + 2 * dayMs, 7)]);
    await store.dailyUsage(policy, october);
    const defs = listRollups(db);
    // One per distinct definition: every meter but the time_weighted one.
    expect(defs.map((d) => d.fp).sort()).toEqual(
      [
        ...new Set(
          ratingMeters(policy)
            .filter((m) => m.aggregation !== "time_weighted")
            .map((m) => meterFingerprint(m, zone)),
        ),
      ].sort(),
    );
    expect(defs.every((d) => d.through === 2)).toBe(true);
    // A late event (an early day) and a duplicate id: the late one counts, the duplicate does not.
    expect(
      await store.insertEvents([ev("c", october.start + 3000, 100), ev("a", october.start + 1000, 999)]),
    ).toBe(1);
    expect(listRollups(db).every((d) => d.through === 3)).toBe(true);
    expect(catchUp(db)).toBe(0);
    const fp = meterFingerprint(policy.meters.input_tokens as (typeof policy.meters)[string], zone);
    const cells = db.prepare("SELECT day, dim, q, n FROM rollups WHERE fp = ? ORDER BY day").all(fp);
    expect(cells).toEqual([
      { day: october.start, dim: "a", q: 105, n: 2 },
      { day: october.start + 2 * dayMs, dim: "a", q: 7, n: 1 },
    ]);
    const u = (await store.dailyUsage(policy, october)).lookup({
      account: "acme",
      members: ["acme"],
      meter: "input_tokens",
      start: october.start,
      end: october.end,
    });
    expect(u.quantity.toString()).toBe("112");
    expect(u.events).toBe(3);
    db.close();
  });

  it("keep each day's first events: a late earlier event displaces the last kept, a duplicate does not", async () => {
    const db = openDatabase(":memory:", { create: true });
    const store = new SqliteUsageStore(db);
    const buy = (id: string, hour: number, amount: number): UsageEvent =>
      ({
        id,
        type: "buy",
        customer: "acme",
        ts: Date.UTC(2026, 9, 10, hour),
        value: null,
        properties: JSON.stringify({ amount }),
      }) as UsageEvent;
    const payments = policy.meters.payments as (typeof policy.meters)[string];
    const fp = meterFingerprint(payments, zone);
    const kept = () =>
      db
        .prepare("SELECT id, v FROM rollup_firsts WHERE fp = ? ORDER BY ts, id")
        .all(fp)
        .map((r) => Object.values(r as object).join("="));
    await store.insertEvents([buy("b", 15, 1), buy("c", 16, 2), buy("d", 17, 3)]);
    // The policy prices payments at percentage with free_events: 2.
    await store.dailyUsage(policy, october);
    expect(listRollups(db).find((d) => d.fp === fp)?.firstN).toBe(2);
    expect(kept()).toEqual(["b=1", "c=2"]);
    // Later the same day: not among the first two. Earlier: displaces c. A known id: ignored.
    await store.insertEvents([buy("e", 18, 4), buy("a", 14, 9), buy("b", 13, 100)]);
    expect(kept()).toEqual(["a=9", "b=1"]);
    // A tie at 14:00 is ordered by id: "Z" < "a" (bytes).
    await store.insertEvents([buy("Z", 14, 7)]);
    expect(kept()).toEqual(["Z=7", "a=9"]);
    // Asking for more than kept rebuilds the definition keeping that many.
    const days = dayStarts(october, zone);
    const first = await store.firstEvents(payments, october, days, 4, zone);
    expect(listRollups(db).find((d) => d.fp === fp)?.firstN).toBe(4);
    expect(kept()).toEqual(["Z=7", "a=9", "b=1", "c=2"]);
    expect(leads(first)).toEqual(
      leads(await new SqliteUsageStore(db, { rollups: false }).firstEvents(payments, october, days, 4, zone)),
    );
    // rebuild-rollups keeps what bills asked for.
    await store.rebuildRollups(policy);
    expect(listRollups(db).find((d) => d.fp === fp)?.firstN).toBe(4);
    expect(kept()).toEqual(["Z=7", "a=9", "b=1", "c=2"]);
    db.close();
  });

  it("a read-only connection reads the first events its rollups keep and scans for more", async () => {
    const file = join(dir, "readonly.db");
    const db = openDatabase(file, { create: true });
    const buy = (id: string, hour: number): UsageEvent =>
      ({
        id,
        type: "buy",
        customer: "beta",
        ts: Date.UTC(2026, 9, 12, hour),
        value: null,
        properties: JSON.stringify({ amount: hour }),
      }) as UsageEvent;
    await new SqliteUsageStore(db).insertEvents([13, 14, 15, 16, 17].map((h) => buy(`p${h}`, h)));
    await new SqliteUsageStore(db).dailyUsage(policy, october);
    // Recorded after the rollup was built, by a writer that folds nothing: the reader folds this tail.
    rawInsert(db, [buy("p12", 12)]);
    db.close();
    const reader = openDatabase(file, { readonly: true });
    const payments = policy.meters.payments as (typeof policy.meters)[string];
    const days = dayStarts(october, zone);
    const scan = new SqliteUsageStore(reader, { rollups: false });
    const rolled = new SqliteUsageStore(reader);
    // The late 12:00 payment is among the first two.
    expect(leads(await rolled.firstEvents(payments, october, days, 2, zone))[0]).toMatch(
      /\/p12\/12 .*\/p13\/13$/,
    );
    for (const n of [2, 4]) {
      expect(leads(await new SqliteUsageStore(reader).firstEvents(payments, october, days, n, zone))).toEqual(
        leads(await scan.firstEvents(payments, october, days, n, zone)),
      );
    }
    // Nothing written: the rollup still keeps the policy's 2.
    expect(listRollups(reader).find((d) => d.fp === meterFingerprint(payments, zone))?.firstN).toBe(2);
    reader.close();
  });

  it("a fingerprint ignores names and prices, not what changes a day's value", () => {
    const m = policy.meters.input_tokens as (typeof policy.meters)[string];
    expect(
      meterFingerprint({ ...m, id: "renamed", cost: { by: "model", rates: {}, default: null } }, zone),
    ).toBe(meterFingerprint(m, zone));
    expect(meterFingerprint(m, "UTC")).not.toBe(meterFingerprint(m, zone));
    expect(meterFingerprint({ ...m, where: { model: ["a"] } }, zone)).not.toBe(meterFingerprint(m, zone));
    expect(meterFingerprint({ ...m, aggregation: "max" }, zone)).not.toBe(meterFingerprint(m, zone));
    expect(rollupDefinition({ ...m, events: ["b", "a", "a"] }, zone).events).toEqual(["a", "b"]);
  });
});
