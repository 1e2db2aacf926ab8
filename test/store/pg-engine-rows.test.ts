import { describe, expect, it } from "vitest";
import { PgRows } from "../../src/engine/adapters/store/postgres/engine-rows.js";

/** Queued batches merged into one transaction: the last state of each row wins, events keep their order. */
function rows(build: (r: PgRows) => void): PgRows {
  const r = new PgRows();
  build(r);
  return r;
}

const hold = (id: string, amount: number) => ({
  id,
  key: "acme|api",
  customer: "acme",
  entitlement: "api",
  amount,
  expiresAt: 10,
});
const counter = (used: number) => ({
  key: "acme|api",
  owner: "acme",
  entitlement: "api",
  periodStart: 0,
  used,
  events: used,
  updatedAt: used,
});

describe("PgRows.merge", () => {
  it("appends events in order and keeps the newest counter, hold, plan and wallet", () => {
    const a = rows((r) => {
      r.events.id.push("e1");
      r.events.version.push(1);
      r.counters.set("acme|api", counter(1));
      r.holdsUpsert.set("h1", hold("h1", 5));
      r.subscriptions.set("acme\u00000", { customer: "acme", effectiveAt: 0, plan: "free", recordedAt: 1 });
    });
    const b = rows((r) => {
      r.events.id.push("e2");
      r.events.version.push(2);
      r.counters.set("acme|api", counter(2));
      r.holdsUpsert.set("h1", hold("h1", 7));
      r.subscriptions.set("acme\u00000", { customer: "acme", effectiveAt: 0, plan: "pro", recordedAt: 2 });
    });
    a.merge(b);
    expect(a.events.id).toEqual(["e1", "e2"]);
    expect(a.events.version).toEqual([1, 2]);
    expect(a.eventCount).toBe(2);
    expect(a.counters.get("acme|api")?.used).toBe(2);
    expect(a.holdsUpsert.get("h1")?.amount).toBe(7);
    expect([...a.subscriptions.values()].map((s) => s.plan)).toEqual(["pro"]);
  });

  it("a hold settled after it was taken is deleted, one taken again after a delete is upserted", () => {
    const a = rows((r) => r.holdsUpsert.set("h1", hold("h1", 5)));
    a.merge(rows((r) => r.holdsDelete.add("h1")));
    expect(a.holdsUpsert.has("h1")).toBe(false);
    expect([...a.holdsDelete]).toEqual(["h1"]);
    a.merge(rows((r) => r.holdsUpsert.set("h1", hold("h1", 3))));
    expect(a.holdsDelete.has("h1")).toBe(false);
    expect(a.holdsUpsert.get("h1")?.amount).toBe(3);
  });
});
