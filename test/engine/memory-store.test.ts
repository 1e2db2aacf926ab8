import { describe, expect, it } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

const policy = compilePolicy({
  limitr: 1,
  name: "memory-store",
  timezone: "UTC",
  meters: { calls: { event: "api.call", aggregation: "count" } },
  plans: {
    standard: {
      default: true,
      entitlements: { api: { meter: "calls", limit: 1000, period: "month", mode: "hard" } },
    },
  },
});
const now = { now: Date.parse("2026-10-05T12:00:00Z") };
const customers = Array.from({ length: 40 }, (_, i) => `c${i}`);

function open(store: MemoryEngineStore): Promise<Limitr> {
  return Limitr.open({ policy, store, durability: "batched", alerts: false });
}

describe("memory store: counters survive a restart whatever share of them a batch changed", () => {
  it("restores every counter written by earlier engines, from whole-table and per-counter batches", async () => {
    const store = new MemoryEngineStore();
    const expected = new Map<string, number>();
    const a = await open(store);
    // Every counter changes: the store copies the whole table.
    for (const [i, c] of customers.entries()) {
      a.allow(c, "api", i + 1, now);
      expected.set(c, i + 1);
    }
    await a.flush();
    // One counter in forty changes: the store copies it alone.
    a.allow("c3", "api", 10, now);
    expected.set("c3", 14);
    await a.close();

    const b = await open(store);
    for (const c of customers) expect(b.usage(c, "api", now).used).toBe(expected.get(c));
    // A second engine writes only one counter; the rows of the first stay.
    b.allow("c7", "api", 100, now);
    expected.set("c7", 108);
    b.allow("late", "api", 5, now);
    expected.set("late", 5);
    await b.close();

    const c = await open(store);
    for (const [customer, used] of expected) expect(c.usage(customer, "api", now).used).toBe(used);
    const rows = store.loadCounters();
    expect(rows).toHaveLength(expected.size);
    expect(rows.find((r) => r.owner === "c7")).toMatchObject({ used: 108, events: 2, entitlement: "api" });
    await c.close();
  });

  it("a counter changed after the last flush is not in the store: it holds what was written", async () => {
    const store = new MemoryEngineStore();
    const a = await open(store);
    for (const c of customers) a.allow(c, "api", 2, now);
    await a.flush();
    a.allow("c1", "api", 50, now);
    // Not flushed: the store still has the value of the last batch.
    expect(store.loadCounters().find((r) => r.owner === "c1")?.used).toBe(2);
    expect(store.events()).toHaveLength(customers.length);
    await a.close();
    expect(store.loadCounters().find((r) => r.owner === "c1")?.used).toBe(52);
    expect(store.events()).toHaveLength(customers.length + 1);
  });

  it("keeps every counter exact as the engine's tables grow far past their first size", async () => {
    const store = new MemoryEngineStore();
    const many = Array.from({ length: 5000 }, (_, i) => `acct-${i}`);
    const a = await open(store);
    for (const [i, c] of many.entries()) expect(a.allow(c, "api", (i % 97) + 1, now)).toBe(true);
    for (const [i, c] of many.entries()) expect(a.usage(c, "api", now).used).toBe((i % 97) + 1);
    await a.close();
    expect(store.events()).toHaveLength(many.length);

    const b = await open(store);
    for (const [i, c] of many.entries()) expect(b.usage(c, "api", now).used).toBe((i % 97) + 1);
    // A second round on every counter: all of them change in one batch.
    for (const c of many) b.allow(c, "api", 1, now);
    await b.close();
    const used = new Map(store.loadCounters().map((r) => [r.owner, r.used]));
    for (const [i, c] of many.entries()) expect(used.get(c)).toBe((i % 97) + 2);
  });
});
