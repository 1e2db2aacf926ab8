import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openUsageStore } from "../../src/engine/adapters/store/open-usage-store.js";
import { dailyData } from "../../src/engine/adapters/store/postgres/aggregate.js";
import {
  allLayouts,
  JSON_ONLY,
  LayoutReader,
  layoutSpecs,
} from "../../src/engine/adapters/store/postgres/layouts.js";
import { openPostgresStore, type PgUsageStore } from "../../src/engine/adapters/store/postgres/store.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { parsePeriod } from "../../src/engine/core/periods.js";
import type { UsageEvent } from "../../src/engine/core/usage/event.js";
import type { UsageStore } from "../../src/engine/core/usage/store-port.js";
import { policyFrom } from "../billing/helpers.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * Values extracted at import (layouts.ts): a bill reads the same usage
 * whether a row's value comes from its column or from the JSON, for events
 * imported before the policy read a property, under an older policy, or
 * without one; and the same usage as the SQLite store.
 */
const METERS = `
limitr: 1
name: extracted
currency: USD
timezone: UTC
meters:
  input_tokens: { event: llm, aggregation: sum, property: input_tokens, cost: { by: model, rates: { a: 0.001 }, default: 0.002 } }
  output_tokens: { event: llm, aggregation: sum, property: output_tokens, cost: { by: model, rates: { a: 0.001 }, default: 0.002 } }
  payments: { event: [buy, refund], aggregation: sum, property: amount }
  peak: { event: [gauge, gauge2], aggregation: max, property: level }
  last: { event: [gauge, gauge2], aggregation: latest, property: level }
  users: { event: seat, aggregation: unique_count, property: user }
  searches: { event: tool, aggregation: count, where: { tool: [search] } }
  tools: { event: tool, aggregation: count }
plans:
  pro: { price: 10 }
`;
/** The policy before: it read fewer properties (and other ones) of the same events. */
const BEFORE = `
limitr: 1
name: extracted
currency: USD
timezone: UTC
meters:
  input_tokens: { event: llm, aggregation: sum, property: input_tokens }
  level_sum: { event: gauge, aggregation: sum, property: other }
plans:
  pro: { price: 10 }
`;

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 9, 1);
let seq = 0;
const ev = (type: string, customer: string, day: number, properties: Record<string, unknown>, ms = 0) =>
  ({
    id: `e${++seq}`,
    type,
    customer,
    ts: T0 + day * DAY + 3_600_000 + ms,
    value: null,
    properties: JSON.stringify(properties),
  }) satisfies UsageEvent;

/** Three batches of events of every kind a meter reads, with numbers as text, booleans and junk. */
function batch(n: number): UsageEvent[] {
  const out: UsageEvent[] = [];
  for (const c of ["acme", "globex"]) {
    for (let d = 0; d < 3; d++) {
      out.push(ev("llm", c, d, { model: "a", input_tokens: 100 + n, output_tokens: " 7.5 " }));
      out.push(ev("llm", c, d, { model: "b", input_tokens: true, output_tokens: "many" }));
      out.push(ev("llm", c, d, { model: n, input_tokens: 1e3 }));
      out.push(
        ev("buy", c, d, { amount: 0.1 }),
        ev("buy", c, d, { amount: 0.2 }),
        ev("refund", c, d, { amount: "-0.05" }),
      );
      // Two types tie at the same millisecond: the latest is the later-inserted event.
      out.push(ev("gauge", c, d, { level: 5 + n }, 10), ev("gauge2", c, d, { level: 2 }, 10));
      out.push(ev("gauge", c, d, { level: 9 }, 5));
      out.push(
        ev("seat", c, d, { user: `u${n}` }),
        ev("seat", c, d, { user: true }),
        ev("seat", c, d, { user: 1 }),
      );
      out.push(
        ev("tool", c, d, { tool: "search" }),
        ev("tool", c, d, { tool: "fetch" }),
        ev("tool", c, d, {}),
      );
    }
  }
  return out;
}

const schema = pgSchema();
let store: PgUsageStore;
let sqlite: UsageStore;
const policy = policyFrom(METERS);
const period = parsePeriod("2026-10", "UTC");

beforeAll(async () => {
  store = await openPostgresStore(schema.url, { create: true });
  sqlite = await openUsageStore(join(mkdtempSync(join(tmpdir(), "limitr-extracted-")), "usage.db"), {
    create: true,
  });
  const imports: [CompiledPolicy | null, UsageEvent[]][] = [
    [null, batch(0)], // before any policy: every value from the JSON
    [policyFrom(BEFORE), batch(1)], // an older policy: some columns, other properties
    [policy, batch(2)], // the policy billed
  ];
  for (const [p, events] of imports) {
    if (p) await store.extractFor(p);
    await store.insertEvents(events);
    await sqlite.insertEvents(events);
  }
}, 60_000);

afterAll(async () => {
  await store?.close();
  await sqlite?.close();
  await schema.drop();
});

describe("Postgres: values extracted at import", () => {
  it("an import stores what the policy's meters read, per event type, in typed columns", async () => {
    expect(layoutSpecs(policy)).toEqual([
      { type: "buy", numbers: ["amount"], texts: [] },
      { type: "gauge", numbers: ["level"], texts: [] },
      { type: "gauge2", numbers: ["level"], texts: [] },
      { type: "llm", numbers: ["input_tokens", "output_tokens"], texts: ["model"] },
      { type: "refund", numbers: ["amount"], texts: [] },
      { type: "seat", numbers: [], texts: ["user"] },
    ]);
    const rows = await pgQuery<{
      layout: number | null;
      n1: string | null;
      n2: string | null;
      t1: string | null;
    }>("SELECT layout, n1, n2, t1 FROM events WHERE type = 'llm' ORDER BY seq", [], schema.name);
    // 18 llm events a batch. First batch: no layout. Second: the older policy's (input_tokens only). Third: both, and the model.
    expect(rows[0]).toEqual({ layout: null, n1: null, n2: null, t1: null });
    expect(rows[18]?.n1).toBe("101");
    expect(rows[18]?.n2).toBe(null);
    expect(rows[36]).toMatchObject({ n1: "102", n2: "7.5", t1: "a" });
    expect(rows[37]).toMatchObject({ n1: "1", n2: null, t1: "b" }); // true reads as 1, "many" as nothing
    expect(rows[38]).toMatchObject({ n1: "1000", t1: "2" });
  });

  it("the daily cells are the same from the columns as from the JSON alone (the fallback path)", async () => {
    if (!period) throw new Error("period");
    const layouts = await allLayouts(store.pool);
    expect(layouts.length).toBeGreaterThan(3);
    const fromColumns = await dailyData(store.pool, new LayoutReader(layouts), policy, period);
    const fromJson = await dailyData(store.pool, JSON_ONLY, policy, period);
    expect(fromColumns).toEqual(fromJson);
    expect(fromColumns.get("users")?.get("acme")?.[0]?.values).toEqual(new Set(["u0", "u1", "u2", "1"]));
  });

  it("bill usage equals the SQLite store's, meter by meter; sums of decimals are exact", async () => {
    if (!period) throw new Error("period");
    const [pg, lite] = await Promise.all([store, sqlite].map((s) => s.dailyUsage(policy, period)));
    expect(pg?.customers).toEqual(lite?.customers);
    for (const meter of Object.keys(policy.meters)) {
      for (const customer of ["acme", "globex"]) {
        for (const [start, end] of [
          [period.start, period.end],
          [T0 + DAY, T0 + 2 * DAY],
        ] as const) {
          const w = { account: customer, members: [customer], meter, start, end };
          const a = pg?.lookup(w);
          const b = lite?.lookup(w);
          expect(a?.quantity.toString(), `${meter} ${customer}`).toBe(b?.quantity.toString());
          expect(a?.events).toBe(b?.events);
          // Dimension values with nothing to add (events without a number) are left out: SQLite keeps some at 0.
          const dims = (m: Map<string, { isZero(): boolean }> | undefined) =>
            [...(m ?? [])]
              .filter(([, v]) => !v.isZero())
              .map(([k, v]) => [k, v.toString()])
              .sort();
          expect(dims(a?.byDim), `${meter} ${customer} by dimension`).toEqual(dims(b?.byDim));
        }
      }
    }
    const payments = pg?.lookup({ account: "acme", members: ["acme"], meter: "payments", ...period });
    expect(payments?.quantity.toString()).toBe("2.25"); // 9 days-of-events x (0.1 + 0.2 - 0.05), exact
    const last = pg?.lookup({ account: "acme", members: ["acme"], meter: "last", ...period });
    expect(last?.quantity.toString()).toBe("2"); // the tie at the last millisecond goes to the later event
  });

  it("an import without a policy extracts what the last one with a policy did", async () => {
    const again = await openPostgresStore(schema.url);
    try {
      await again.insertEvents([ev("llm", "initech", 4, { model: "a", input_tokens: 3, output_tokens: 4 })]);
    } finally {
      await again.close();
    }
    const rows = await pgQuery<{ n1: string; n2: string; t1: string }>(
      "SELECT n1, n2, t1 FROM events WHERE customer = 'initech'",
      [],
      schema.name,
    );
    expect(rows).toEqual([{ n1: "3", n2: "4", t1: "a" }]);
  });
});
