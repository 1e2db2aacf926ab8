import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

// A prepaid decision debits on the wallet's number lane and buffers its ledger row as columns
// (R17 unchanged): every figure read back must be exact before a flush, after it, and after a
// restart on the same store.
const policy = compilePolicy({
  limitr: 1,
  name: "ledger",
  currency: "USD",
  timezone: "UTC",
  meters: { calls: { event: "api.call", aggregation: "count" } },
  plans: {
    standard: {
      default: true,
      wallet: { unit: "USD", minimum: 1 },
      entitlements: {
        api: { meter: "calls", mode: "prepaid", price: { model: "per_unit", unit_price: "0.002" } },
      },
    },
  },
});

const T0 = Date.UTC(2026, 10, 2, 9);
const dir = mkdtempSync(join(tmpdir(), "limitr-ledger-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 6.00 in two lots (the first burnt first), then `calls` prepaid calls of 0.002 one ms apart. */
function spend(l: Limitr, calls: number): void {
  l.topUp("acme", "1", { id: "first", priority: 0, now: T0 });
  l.topUp("acme", "5", { id: "second", priority: 1, now: T0 });
  for (let i = 0; i < calls; i++) expect(l.allow("acme", "api", 1, { now: T0 + 1 + i })).toBe(true);
}

/** What every reader must see after 600 calls: 1.2 spent, the first lot gone, exact rows. */
function expectExact(l: Limitr): void {
  const b = l.balance("acme", { now: T0 + 10_000 });
  expect(b.balance).toBe("4.8");
  expect(b.available).toBe("3.8");
  expect(b.grants.map((g) => [g.id, g.remaining])).toEqual([["second", "4.8"]]);
  const txs = l.transactions("acme", { now: T0 + 10_000 });
  expect(txs).toHaveLength(602);
  expect(txs.slice(0, 2).map((t) => [t.id, t.kind, t.amount, t.balanceAfter])).toEqual([
    ["first", "credit", "1", "1"],
    ["second", "credit", "5", "6"],
  ]);
  const debits = txs.slice(2);
  expect(new Set(debits.map((t) => t.id)).size).toBe(600);
  debits.forEach((t, i) => {
    expect(t).toMatchObject({ kind: "debit", amount: "-0.002", entitlement: "api", at: T0 + 1 + i });
    // 6 - 0.002 * (i + 1), exactly.
    expect(t.balanceAfter).toBe(((6000 - 2 * (i + 1)) / 1000).toString());
  });
}

describe("R17 deferred ledger rows", () => {
  for (const kind of ["memory", "sqlite"] as const) {
    it(`[${kind}] balance, lots and transactions are exact before a flush, after it, and after a restart`, async () => {
      const memory = new MemoryEngineStore();
      const store = kind === "memory" ? memory : `sqlite:${join(dir, "ledger.db")}`;
      const l = await Limitr.open({ policy, store, alerts: false, batch: { maxEvents: 1_000_000 } });
      spend(l, 600);
      expectExact(l); // nothing written yet
      await l.flush();
      expectExact(l);
      // A debit id is the call's event id; looking it up as a top-up id finds it as stored.
      const some = l.transactions("acme", { now: T0 + 10_000 })[300];
      const again = l.topUp("acme", "1", { id: some?.id, now: T0 + 20_000 });
      expect(again).toMatchObject({ duplicate: true, kind: "debit", amount: "-0.002" });
      await l.close();
      const reopened = await Limitr.open({ policy, store, alerts: false });
      expectExact(reopened);
      await reopened.close();
    });
  }

  it("batches the memory store takes whole, and drops past its window, leave every kept row exact", async () => {
    // Batches of 300 debits fill most of the ledger's columns: the store takes them without a copy,
    // and the columns of batches it drops are reused by later ones.
    const store = new MemoryEngineStore({ retainEvents: 500 });
    const l = await Limitr.open({ policy, store, alerts: false, batch: { maxEvents: 300 } });
    l.topUp("acme", "100", { id: "t", now: T0 });
    l.topUp("beta", "100", { id: "t", now: T0 });
    for (let i = 0; i < 3000; i++)
      expect(l.allow(i % 3 === 0 ? "beta" : "acme", "api", 1, { now: T0 + 1 + i })).toBe(true);
    await l.flush();
    for (const [customer, calls] of [
      ["acme", 2000],
      ["beta", 1000],
    ] as const) {
      const txs = l.transactions(customer, { now: T0 + 10_000 });
      const debits = txs.filter((t) => t.kind === "debit");
      expect(debits.length).toBeGreaterThan(0);
      expect(new Set(debits.map((t) => t.id)).size).toBe(debits.length);
      // The newest kept debits are the last ones made, each 0.002 less than the one before.
      debits.forEach((t, k) => {
        const n = calls - (debits.length - 1 - k);
        expect(t).toMatchObject({ amount: "-0.002", entitlement: "api" });
        expect(t.balanceAfter).toBe(((100000 - 2 * n) / 1000).toString());
      });
      expect(l.balance(customer, { now: T0 + 10_000 }).balance).toBe(
        ((100000 - 2 * calls) / 1000).toString(),
      );
    }
    await l.close();
    const reopened = await Limitr.open({ policy, store, alerts: false });
    expect(reopened.balance("acme", { now: T0 + 10_000 }).balance).toBe("96");
    expect(reopened.balance("beta", { now: T0 + 10_000 }).balance).toBe("98");
    await reopened.close();
  });

  it("the reserve stops the number lane exactly: the call that would reach into it is refused and changes nothing", async () => {
    const l = await Limitr.open({ policy, store: "memory", alerts: false });
    l.topUp("acme", "1.01", { id: "t", now: T0 });
    for (let i = 0; i < 5; i++) expect(l.allow("acme", "api", 1, { now: T0 + 1 })).toBe(true);
    expect(l.decide("acme", "api", 1, { now: T0 + 2 })).toMatchObject({
      allowed: false,
      reason: "insufficient_balance",
    });
    expect(l.balance("acme", { now: T0 + 3 })).toMatchObject({ balance: "1", available: "0" });
    expect(l.transactions("acme", { now: T0 + 3 })).toHaveLength(6);
    await l.close();
  });

  it("a balance past 2^53 atoms (about 9,007 units) still debits exactly, and idempotency by id holds", async () => {
    const l = await Limitr.open({ policy, store: "memory", alerts: false });
    l.topUp("acme", "1000000000", { id: "big", now: T0 });
    expect(l.allow("acme", "api", 3, { id: "call-1", now: T0 + 1 })).toBe(true);
    expect(l.allow("acme", "api", 3, { id: "call-1", now: T0 + 2 })).toBe(true); // duplicate: not counted again
    for (let i = 0; i < 1000; i++) l.allow("acme", "api", 7, { now: T0 + 3 });
    expect(l.balance("acme", { now: T0 + 4 }).balance).toBe("999999985.994");
    const txs = l.transactions("acme", { now: T0 + 4 });
    expect(txs.filter((t) => t.id === "call-1").map((t) => [t.amount, t.balanceAfter])).toEqual([
      ["-0.006", "999999999.994"],
    ]);
    expect(txs.at(-1)?.balanceAfter).toBe("999999985.994");
    await l.flush();
    expect(l.balance("acme", { now: T0 + 4 }).balance).toBe("999999985.994");
    await l.close();
  });
});
