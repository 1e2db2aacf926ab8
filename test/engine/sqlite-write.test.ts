/**
 * What a flush writes to the SQLite store, row for row. The store writes
 * events and counters in multi-row statements of a fixed size and the rest
 * row by row, so the batches here change counts of counters and events that
 * are not multiples of that size, over counters that are partly new and
 * partly already stored.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { PropertyValue } from "../../src/engine/core/model.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: {
    calls: { event: "api.request", aggregation: "count" },
    tokens: { event: "llm.tokens", aggregation: "sum", property: "n" },
  },
  plans: {
    free: {
      default: true,
      entitlements: { api: { meter: "calls", limit: 1e9 }, tokens: { meter: "tokens", limit: 1e9 } },
    },
  },
});
const MONTH = Date.parse("2026-10-01T00:00:00Z");
const START = Date.parse("2026-10-05T12:00:00Z");
/** Changed counters per flush: 1, chunk - 1, chunk + 1 and 2 * chunk + 3 for a chunk of 64. */
const ROUNDS = [1, 63, 65, 131];
/** Extra events per flush on already-changed counters, so event counts miss the chunk size too. */
const EXTRA = 2;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Counter {
  customer: string;
  entitlement: "api" | "tokens";
}

/** Counter i, in an order that is not the key order. */
function counterAt(i: number): Counter {
  return { customer: `cust-${(i * 37) % 211}`, entitlement: i % 2 === 0 ? "api" : "tokens" };
}

interface ExpectedEvent {
  id: string | null;
  type: string;
  customer: string;
  ts: number;
  value: number;
  properties: Record<string, PropertyValue> | null;
}

describe("SQLite store writes whole batches", () => {
  it("every counter and event of flushes around the statement chunk size reads back exactly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-write-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    let clock = START;
    const limitr = await Limitr.open({ policy, store: `sqlite:${db}`, alerts: false, now: () => clock });
    const { activeVersion, activeDigest } = limitr.status();

    const counters = new Map<string, { used: number; events: number; updatedAt: number }>();
    const events: ExpectedEvent[] = [];
    let n = 0;
    const call = (c: Counter) => {
      n++;
      const amount = (n % 7) + 1;
      const id = n % 5 === 0 ? `explicit-${n}` : undefined;
      const props = n % 3 === 0 ? { region: `r${n % 4}` } : undefined;
      expect(limitr.allow(c.customer, c.entitlement, amount, { id, properties: props })).toBe(true);
      const key = `${c.customer}/${c.entitlement}`;
      const row = counters.get(key) ?? { used: 0, events: 0, updatedAt: 0 };
      row.used += amount;
      row.events += 1;
      row.updatedAt = clock;
      counters.set(key, row);
      const tokens = c.entitlement === "tokens";
      events.push({
        id: id ?? null,
        type: tokens ? "llm.tokens" : "api.request",
        customer: c.customer,
        ts: clock,
        value: amount,
        properties: tokens ? { ...props, n: amount } : (props ?? null),
      });
    };

    for (const size of ROUNDS) {
      clock += 60_000;
      for (let i = 0; i < size; i++) call(counterAt(i));
      for (let i = 0; i < EXTRA; i++) call(counterAt(i % size));
      await limitr.flush();
    }
    await limitr.close();

    const reader = openDatabase(db, { readonly: true });
    try {
      const rows = reader
        .prepare(
          // The key is `<entitlement>|<owner>` (the store keeps no separate columns for them).
          `SELECT key, substr(key, instr(key, '|') + 1) AS owner, substr(key, 1, instr(key, '|') - 1) AS entitlement,
            period_start, used, events, updated_at FROM counters ORDER BY key`,
        )
        .all() as {
        key: string;
        owner: string;
        entitlement: string;
        period_start: number;
        used: number;
        events: number;
        updated_at: number;
      }[];
      expect(rows).toHaveLength(counters.size);
      expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
      for (const r of rows) {
        const want = counters.get(`${r.owner}/${r.entitlement}`);
        expect(want, `${r.owner}/${r.entitlement}`).toBeDefined();
        expect({
          periodStart: r.period_start,
          used: r.used,
          events: r.events,
          updatedAt: r.updated_at,
        }).toEqual({
          periodStart: MONTH,
          used: want?.used,
          events: want?.events,
          updatedAt: want?.updatedAt,
        });
      }

      const stored = reader
        .prepare(
          "SELECT id, type, customer, ts, value, properties, bundle_version, bundle_digest FROM events ORDER BY seq",
        )
        .all() as {
        id: string;
        type: string;
        customer: string;
        ts: number;
        value: number;
        properties: string | null;
        bundle_version: number;
        bundle_digest: string;
      }[];
      expect(stored).toHaveLength(events.length);
      expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
      stored.forEach((e, i) => {
        const want = events[i] as ExpectedEvent;
        expect({
          id: want.id === null ? null : e.id,
          type: e.type,
          customer: e.customer,
          ts: e.ts,
          value: e.value,
          properties: e.properties === null ? null : JSON.parse(e.properties),
          version: e.bundle_version,
          digest: e.bundle_digest,
        }).toEqual({ ...want, version: activeVersion, digest: activeDigest });
        if (want.id === null) expect(e.id).not.toMatch(/^explicit-/);
      });
    } finally {
      reader.close();
    }

    // A restarted engine resumes from the stored counters.
    const again = await Limitr.open({ policy, store: `sqlite:${db}`, alerts: false, now: () => clock });
    try {
      for (const [key, want] of counters) {
        const [customer, entitlement] = key.split("/") as [string, string];
        expect(again.usage(customer, entitlement).used, key).toBe(want.used);
      }
    } finally {
      await again.close();
    }
  });

  it("a store of schema 10 keeps its counters across the upgrade that drops their owner and entitlement columns", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-counters-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    const clock = START;
    const first = await Limitr.open({ policy, store: `sqlite:${db}`, alerts: false, now: () => clock });
    first.allow("acme", "api", 3);
    first.allow("acme", "tokens", 250);
    await first.close();

    // The counters table as schema 10 had it, with the rows the engine wrote.
    const old = openDatabase(db);
    old.exec(`
      CREATE TABLE counters_old (
        key TEXT NOT NULL PRIMARY KEY,
        owner TEXT NOT NULL,
        entitlement TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        used REAL NOT NULL,
        events INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO counters_old SELECT key, substr(key, instr(key, '|') + 1), substr(key, 1, instr(key, '|') - 1),
        period_start, used, events, updated_at FROM counters;
      DROP TABLE counters;
      ALTER TABLE counters_old RENAME TO counters;
      PRAGMA user_version = 10;
    `);
    expect(old.prepare("SELECT owner, entitlement, used FROM counters ORDER BY key").all()).toEqual([
      { owner: "acme", entitlement: "api", used: 3 },
      { owner: "acme", entitlement: "tokens", used: 250 },
    ]);
    old.close();

    const again = await Limitr.open({ policy, store: `sqlite:${db}`, alerts: false, now: () => clock });
    try {
      expect(again.usage("acme", "api").used).toBe(3);
      expect(again.usage("acme", "tokens").used).toBe(250);
      again.allow("acme", "api", 1);
      await again.flush();
    } finally {
      await again.close();
    }
    const reader = openDatabase(db, { readonly: true });
    try {
      expect(reader.prepare("SELECT key, used, events FROM counters ORDER BY key").all()).toEqual([
        { key: "api|acme", used: 4, events: 2 },
        { key: "tokens|acme", used: 250, events: 1 },
      ]);
    } finally {
      reader.close();
    }
  });
});
