import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dayStarts } from "../../src/engine/adapters/store/bill-usage.js";
import { PgRows } from "../../src/engine/adapters/store/postgres/engine-rows.js";
import { writeRows } from "../../src/engine/adapters/store/postgres/engine-sql.js";
import { layoutSpecs, registerLayouts } from "../../src/engine/adapters/store/postgres/layouts.js";
import { meterFingerprint } from "../../src/engine/adapters/store/postgres/rollup-def.js";
import { openPostgresStore, type PgUsageStore } from "../../src/engine/adapters/store/postgres/store.js";
import { aggregateUsage } from "../../src/engine/adapters/store/usage-query.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { parsePeriod, type Window } from "../../src/engine/core/periods.js";
import type { UsageEvent } from "../../src/engine/core/usage/event.js";
import type { AggregateRow, AggregateSpec, DailyUsage } from "../../src/engine/core/usage/store-port.js";
import { policyFrom } from "../billing/helpers.js";
import { limitr } from "../cli/run-cli.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * Rollups (postgres/rollups.ts) answer exactly what the GROUP BY over the
 * events answers: after imports with duplicates, re-imports, late events and
 * the engine's writes, registered before, between and after them, for every
 * aggregation, `where` filters and cost dimensions; and two importers at once.
 */
const POLICY = `
limitr: 1
name: rollups
currency: USD
timezone: America/New_York
meters:
  tokens: { event: llm, aggregation: sum, property: tokens, cost: { by: model, rates: { a: 0.001 }, default: 0.002 } }
  spend: { event: [llm, buy], aggregation: sum }
  calls: { event: llm, aggregation: count }
  searches: { event: [tool, llm], aggregation: count, where: { tool: [search, true] }, cost: { by: model, rates: { a: 1 }, default: 2 } }
  peak: { event: [gauge, llm], aggregation: max, property: level }
  last: { event: [gauge, buy], aggregation: latest, property: level }
  last_value: { event: gauge, aggregation: latest }
  users: { event: [seat, llm], aggregation: unique_count, property: user }
  values: { event: buy, aggregation: unique_count }
plans:
  pro: { price: 10 }
`;

const ZONE = "America/New_York";
const policy: CompiledPolicy = policyFrom(POLICY);
const period = parsePeriod("2026-11", ZONE) as Window;
const HOUR = 3_600_000;

const schema = pgSchema("limitr_rollups");
let store: PgUsageStore;

beforeAll(async () => {
  store = await openPostgresStore(schema.url, { create: true });
});

afterAll(async () => {
  await store?.close();
  await schema.drop();
});

/** Start from an empty store: no events, no rollups. */
/** An empty store; with `extract`, its imports extract the policy's values (and fold from those columns). */
async function reset(extract = false): Promise<void> {
  await pgQuery("TRUNCATE events, rollups, rollup_values, rollup_defs, value_layouts", [], schema.name);
  await store.close();
  store = await openPostgresStore(schema.url);
  if (extract) await registerLayouts(store.pool, layoutSpecs(policy));
}

const property = fc.oneof(
  fc.integer({ min: -5, max: 50 }),
  fc.integer({ min: 0, max: 9999 }).map((c) => c / 100),
  fc.constantFrom("7", " 2.5 ", "x", true, false, null, "search", "a", "b"),
);

/** Events around November 2026 in New York (the DST change on Nov 1, the edges of the period). */
const event = fc.record({
  type: fc.constantFrom("llm", "buy", "tool", "gauge", "seat", "other"),
  customer: fc.constantFrom("c1", "c2", "c3"),
  // From a day before the period to a day after it, on hours and half-hours (ties included);
  // most in its first days (Nov 1 has 25 hours), so imports keep meeting the same days.
  slot: fc.oneof(fc.integer({ min: -4, max: 100 }), fc.integer({ min: -48, max: 30 * 48 + 48 })),
  value: fc.option(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(0.25)), { nil: null }),
  props: fc.record(
    {
      tokens: property,
      model: fc.constantFrom("a", "b", "c", 3, true),
      tool: fc.constantFrom("search", "fetch", true, 1),
      level: property,
      user: fc.constantFrom("u1", "u2", "u3", 4, true),
    },
    { requiredKeys: [] },
  ),
});

type Gen = {
  type: string;
  customer: string;
  slot: number;
  value: number | null;
  props: Record<string, unknown>;
};

function toEvents(gen: Gen[], prefix: string): UsageEvent[] {
  return gen.map((g, i) => ({
    id: `${prefix}${i}`,
    type: g.type,
    customer: g.customer,
    ts: period.start + (g.slot * HOUR) / 2,
    value: g.value,
    properties: JSON.stringify(g.props),
  }));
}

/** The engine's write-behind path: the same insert (and fold) the engine's writer runs. */
async function engineWrite(events: UsageEvent[]): Promise<void> {
  const rows = new PgRows();
  for (const e of events) {
    rows.events.id.push(e.id);
    rows.events.type.push(e.type);
    rows.events.customer.push(e.customer);
    rows.events.ts.push(e.ts);
    rows.events.value.push(e.value);
    rows.events.properties.push(e.properties);
    rows.events.version.push(1);
    rows.events.digest.push("d");
  }
  const client = await store.pool.connect();
  try {
    await writeRows(client, rows);
  } finally {
    client.release();
  }
}

/** Every figure of a daily usage over a few windows: the whole period, single days, a pooled account. */
function figures(usage: DailyUsage, days: number[]) {
  const windows: [number, number][] = [
    [period.start, period.end],
    [days[0] as number, days[1] as number],
    [days[1] as number, days[9] as number],
    [days[29] as number, period.end],
  ];
  const out: Record<string, unknown> = { customers: [...usage.customers].sort() };
  for (const meter of Object.keys(policy.meters)) {
    for (const [start, end] of windows) {
      for (const members of [["c1"], ["c2"], ["c1", "c2", "c3"]]) {
        const a = usage.lookup({ account: members.join("+"), members, meter, start, end });
        out[`${meter} ${start}-${end} ${members}`] = {
          q: a.quantity.toString(),
          n: a.events,
          dims: [...a.byDim].map(([k, v]) => [k, v.toString()]).sort(),
        };
      }
    }
  }
  return out;
}

async function daily(rollups: boolean) {
  store.useRollups = rollups;
  try {
    return figures(await store.dailyUsage(policy, period), dayStarts(period, ZONE));
  } finally {
    store.useRollups = true;
  }
}

/** Rows of one aggregation as comparable text (quantities as the bill reads them). */
function rowsText(rows: AggregateRow[]): string[] {
  return rows
    .map((r) =>
      JSON.stringify([
        r.customer,
        Number(r.bucket),
        r.dim,
        r.q === null ? null : Number(r.q).toFixed(9),
        Number(r.n),
        Number(r.t),
      ]),
    )
    .sort();
}

async function aggregated(spec: AggregateSpec): Promise<{ rollups: string[]; events: string[] }> {
  const events = rowsText(await store.aggregateMeter(spec));
  const rollups = rowsText(await store.aggregateMeter({ ...spec, zone: ZONE }));
  return { rollups, events };
}

/** Daily usage (`bill`), then (`full`) every meter's aggregations and `usage query`, from rollups and from the events. */
async function check(full = true): Promise<void> {
  expect(await daily(true)).toEqual(await daily(false));
  if (!full) return;
  const days = dayStarts(period, ZONE);
  for (const meter of Object.values(policy.meters)) {
    const specs: AggregateSpec[] = [
      { meter, window: period },
      { meter, window: period, buckets: days },
      { meter, window: { start: days[3] as number, end: days[12] as number }, customers: ["c2"] },
    ];
    if (meter.cost?.by) specs.push({ meter, window: period, buckets: days, dimension: meter.cost.by });
    for (const spec of specs) {
      const { rollups, events } = await aggregated(spec);
      expect(rollups).toEqual(events);
    }
  }
  // unique_count's distinct values, merged across days, through `usage query`.
  for (const groupBy of ["day", "customer", "model"]) {
    store.useRollups = false;
    const events = await aggregateUsage(policy, store, { period: { ...period, label: "2026-11" }, groupBy });
    store.useRollups = true;
    const rollups = await aggregateUsage(policy, store, { period: { ...period, label: "2026-11" }, groupBy });
    expect(rollups).toEqual(events);
  }
}

describe("Postgres rollups", () => {
  it("a fingerprint is what decides a meter's daily figures", () => {
    const m = policy.meters.tokens as CompiledPolicy["meters"][string];
    expect(meterFingerprint(m, ZONE)).toMatch(/^[0-9a-f]{64}$/);
    expect(meterFingerprint({ ...m, id: "other", description: "x" }, ZONE)).toBe(meterFingerprint(m, ZONE));
    expect(meterFingerprint(m, "UTC")).not.toBe(meterFingerprint(m, ZONE));
    expect(meterFingerprint({ ...m, property: "other" }, ZONE)).not.toBe(meterFingerprint(m, ZONE));
    const s = policy.meters.searches as CompiledPolicy["meters"][string];
    expect(meterFingerprint({ ...s, where: { tool: [true, "search"] } }, ZONE)).toBe(
      meterFingerprint(s, ZONE),
    );
    expect(meterFingerprint({ ...s, where: { tool: ["search"] } }, ZONE)).not.toBe(meterFingerprint(s, ZONE));
  });

  it("reads what the events read, whatever the order of imports, duplicates and registration", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 1, maxLength: 60 }),
        fc.array(event, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        fc.boolean(),
        async (first, later, replays, engine, extract) => {
          await reset(extract);
          const a = toEvents(first as Gen[], "a");
          const b = toEvents(later as Gen[], "b");
          // Imported before any rollup exists (built from the events at the first read).
          await store.insertEvents(a.slice(0, Math.ceil(a.length / 2)));
          await check(false);
          // Folded at write: the rest, the later ones (some through the engine's writer), re-imports.
          await store.insertEvents(a);
          if (engine) await engineWrite(b);
          else await store.insertEvents(b);
          const again = replays.map((i) => [...a, ...b][i % (a.length + b.length)] as UsageEvent);
          if (again.length > 0) await store.insertEvents(again);
          if (again.length > 0) await engineWrite(again);
          // Imported with extraction, every event of a type the policy reads has its values in columns.
          const layouts = await pgQuery<{ with: number; read: number }>(
            `SELECT COUNT(*) FILTER (WHERE layout IS NOT NULL)::int AS with, COUNT(*) FILTER (WHERE type <> 'other')::int AS read
             FROM events WHERE id LIKE 'a%'`,
            [],
            schema.name,
          );
          const row = layouts[0] as { with: number; read: number };
          expect(row.with).toBe(extract ? row.read : 0);
          await check();
          // A rebuild from the events gives the same.
          await store.rebuildRollups(policy);
          await check(false);
        },
      ),
      { numRuns: 8 },
    );
  }, 120_000);

  it("counts once a batch of new ids that ends with a known one, and the new batches around it", async () => {
    await reset(true);
    await store.dailyUsage(policy, period);
    const all = toEvents(fc.sample(event, { numRuns: 1400, seed: 5 }) as Gen[], "k");
    const [a, b, c] = [all.slice(0, 300), all.slice(300, 1100), all.slice(1100)];
    expect(await store.insertEvents(a)).toBe(300);
    // New ids inserted (more than one chunk of the COPY stream), then a known one last: the
    // whole batch goes again, skipping it.
    expect(await store.insertEvents([...b, a[299] as UsageEvent])).toBe(800);
    // A known id first, and a batch holding one id twice.
    expect(await store.insertEvents([a[0] as UsageEvent, ...c.slice(0, 100)])).toBe(100);
    expect(await store.insertEvents([...c.slice(100, 200), c[150] as UsageEvent])).toBe(100);
    expect(await store.insertEvents(c.slice(200))).toBe(100);
    expect(await store.insertEvents(all)).toBe(0);
    const stored = await pgQuery<{ n: string; seqs: string }>(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS seqs FROM events",
      [],
      schema.name,
    );
    expect(Number(stored[0]?.n)).toBe(1400);
    // In the order of the imports (the replay breaks ties by seq).
    const order = await pgQuery<{ id: string }>("SELECT id FROM events ORDER BY seq", [], schema.name);
    expect(order.map((r) => r.id)).toEqual([...a, ...b, ...c].map((e) => e.id));
    await check();
  }, 60_000);

  it("counts an event once when two importers write overlapping batches at once", async () => {
    await reset();
    // Registered first: both importers fold into the rollups.
    await store.dailyUsage(policy, period);
    const gen = fc.sample(event, { numRuns: 3000, seed: 7 }) as Gen[];
    const events = toEvents(gen, "x");
    const other = await openPostgresStore(schema.url);
    try {
      const chunks = (list: UsageEvent[], size: number) =>
        Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));
      // The same events in two orders, in different batch sizes.
      const one = (async () => {
        for (const c of chunks(events, 250)) await store.insertEvents(c);
      })();
      const two = (async () => {
        for (const c of chunks([...events].reverse(), 170)) await other.insertEvents(c);
      })();
      await Promise.all([one, two]);
    } finally {
      await other.close();
    }
    const stored = await pgQuery<{ n: string }>("SELECT COUNT(*) AS n FROM events", [], schema.name);
    expect(Number(stored[0]?.n)).toBe(events.length);
    await check();
  }, 60_000);

  it("builds a rollup registered while events are being written without missing any", async () => {
    await reset();
    const events = toEvents(fc.sample(event, { numRuns: 2000, seed: 11 }) as Gen[], "y");
    const other = await openPostgresStore(schema.url);
    try {
      const writing = (async () => {
        for (let i = 0; i < events.length; i += 100) await other.insertEvents(events.slice(i, i + 100));
      })();
      // Registration (and its build) races the imports.
      await new Promise((r) => setTimeout(r, 20));
      await store.dailyUsage(policy, period);
      await writing;
    } finally {
      await other.close();
    }
    await check();
  }, 60_000);

  it("limitr usage rebuild-rollups builds them again after events were deleted outside limitr", async () => {
    await reset();
    await store.extractFor(policy);
    await store.insertEvents(toEvents(fc.sample(event, { numRuns: 300, seed: 3 }) as Gen[], "z"));
    // Archived outside limitr: the rollups still count these events until rebuilt.
    await pgQuery("DELETE FROM events WHERE customer = 'c1'", [], schema.name);
    expect(await daily(true)).not.toEqual(await daily(false));
    const dir = mkdtempSync(join(tmpdir(), "limitr-rollups-"));
    // The CLI validates the policy: meters of the event's `value` (no property) are left out there.
    const valid = POLICY.split("\n").filter((l) => !/^ {2}(spend|last_value|values):/.test(l));
    writeFileSync(join(dir, "policy.yaml"), valid.join("\n"));
    const r = await limitr([
      "usage",
      "rebuild-rollups",
      "--db",
      schema.url,
      "--policies",
      dir,
      "--format",
      "json",
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rollups).toBe(Object.keys(policy.meters).length - 3);
    await check();
    const sqlite = await limitr([
      "usage",
      "rebuild-rollups",
      "--db",
      join(dir, "usage.db"),
      "--policies",
      dir,
    ]);
    expect(sqlite.exitCode).toBe(1);
    expect(sqlite.stderr).toMatch(/keeps no rollups|usage.db/);
  }, 60_000);
});
