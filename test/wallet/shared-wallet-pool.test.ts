import { describe, expect, it } from "vitest";
import type { WalletTerms } from "../../src/engine/core/wallet/account.js";
import { fromAtoms, toAtoms } from "../../src/engine/core/wallet/amount.js";
import type { WalletRow } from "../../src/engine/core/wallet/store-rows.js";
import {
  type PoolRequest,
  type PoolState,
  settlePool,
  type WalletIntent,
  walletSlice,
} from "../../src/engine/runtime/wallet-pool.js";

/** The pure part of a wallet shared by engines (R16, R17): what one sync does to the stored wallet and its leases. */
const a = (s: string) => toAtoms(s) as bigint;
const T0 = Date.UTC(2026, 10, 10);
const params = { ttlMs: 10_000, minSlice: a("0.01"), horizonMs: 1000, safetyMs: 20_000 };
const plain: WalletTerms = { unit: "USD", minimum: a("1"), zone: "UTC", grant: null };

function wallet(balance: string, lots: WalletRow["lots"] = []): WalletRow {
  return {
    customer: "acme",
    unit: "USD",
    openedAt: T0 - 86_400_000,
    nextGrantAt: null,
    balance,
    lots:
      lots.length > 0
        ? lots
        : [
            {
              id: "seed",
              source: "topup",
              remaining: balance,
              priority: 0,
              expiresAt: null,
              createdAt: T0 - 86_400_000,
            },
          ],
    holds: [],
  };
}

function req(o: Partial<PoolRequest>): PoolRequest {
  return {
    customer: "acme",
    terms: plain,
    opening: null,
    version: 1,
    held: 0n,
    intents: [],
    need: 0n,
    rate: 0,
    release: false,
    renewOnly: false,
    ...o,
  };
}

const debit = (id: string, leased: string, extra = "0", at = T0): WalletIntent => ({
  kind: "debit",
  id,
  at,
  leased: a(leased),
  extra: a(extra),
  entitlement: "paid",
  version: 1,
});

describe("settlePool (a wallet shared by engines)", () => {
  it("R16 a slice is at most half the holder's fair share of the free funds, and covers a call's need", () => {
    const state: PoolState = { row: wallet("3"), leases: [], known: new Set() };
    const r = settlePool("h1", req({ need: a("0.013"), rate: 0 }), state, T0, params);
    // 2.00 free above the reserve, one holder, no demand measured yet: room for 8 calls like this one.
    expect(fromAtoms(r.reply.granted)).toBe("0.104");
    expect(r.lease?.allowance).toBe(a("0.104"));
    const busy = settlePool("h1", req({ rate: Number(a("5")) }), state, T0, params);
    expect(fromAtoms(busy.reply.granted)).toBe("1");
    const other = { holder: "h2", allowance: a("1.5"), expiresAt: T0 + 5000 };
    const two = settlePool("h1", req({ rate: Number(a("5")) }), { ...state, leases: [other] }, T0, params);
    expect(fromAtoms(two.reply.granted)).toBe("0.125");
    expect(walletSlice(a("0.01"), 1, 0, a("0.013"), params)).toBe(0n);
    // Fair share first: with 0.02 left the asking call gets exactly its need.
    expect(fromAtoms(walletSlice(a("0.02"), 1, 0, a("0.013"), params))).toBe("0.013");
  });

  it("R17 an id already in the ledger (written by another engine) is not debited again", () => {
    const state: PoolState = {
      row: wallet("3"),
      leases: [{ holder: "h1", allowance: a("1"), expiresAt: T0 + 5000 }],
      known: new Set(["c1"]),
    };
    const r = settlePool(
      "h1",
      req({ held: a("0.974"), intents: [debit("c1", "0.013"), debit("c2", "0.013"), debit("c2", "0.013")] }),
      state,
      T0,
      params,
    );
    expect(r.reply.duplicates).toEqual(["c1", "c2"]);
    expect(r.rows.map((t) => [t.id, t.amount, t.balanceAfter])).toEqual([["c2", "-0.013", "2.987"]]);
    expect(r.row.balance).toBe("2.987");
  });

  it("R16 after its lease was reclaimed, an engine's debits are paid from free funds only, never below the minimum", () => {
    // h1's lease expired; h2 holds all but 0.05 of the free funds.
    const state: PoolState = {
      row: wallet("3"),
      leases: [
        { holder: "h1", allowance: a("0.5"), expiresAt: T0 - 1 },
        { holder: "h2", allowance: a("1.95"), expiresAt: T0 + 5000 },
      ],
      known: new Set(),
    };
    const r = settlePool(
      "h1",
      req({ held: a("0.4"), intents: [debit("x1", "0.03"), debit("x2", "0.03")] }),
      state,
      T0,
      params,
    );
    expect(r.reply.lost).toBe(true);
    expect(r.expired).toEqual(["h1"]);
    expect(r.rows.map((t) => [t.id, t.amount, t.note])).toEqual([
      ["x1", "-0.03", null],
      ["x2", "-0.02", "short by 0.01: the wallet could not cover the work done"],
    ]);
    expect(r.row.balance).toBe("2.95");
    expect(r.reply.allowance).toBe(0n);
  });

  it("R16 a negative adjustment shrinks this holder's lease to what the wallet can still back", () => {
    const state: PoolState = {
      row: wallet("3"),
      leases: [{ holder: "h1", allowance: a("1.5"), expiresAt: T0 + 5000 }],
      known: new Set(),
    };
    const adj: WalletIntent = {
      kind: "adjustment",
      id: "fix",
      at: T0,
      amount: a("-1.2"),
      note: "refund to card",
      version: 1,
    };
    const r = settlePool("h1", req({ held: a("1.5"), intents: [adj], renewOnly: true }), state, T0, params);
    expect(r.row.balance).toBe("1.8");
    expect(fromAtoms(r.reply.allowance)).toBe("0.8");
  });

  it("R16 funds that expire within the safety horizon are not leased; a grant is leased once given", () => {
    const expiring = wallet("3", [
      {
        id: "promo",
        source: "topup",
        remaining: "2",
        priority: 0,
        expiresAt: T0 + 10_000,
        createdAt: T0 - 1000,
      },
      { id: "paid", source: "topup", remaining: "1.5", priority: 1, expiresAt: null, createdAt: T0 - 1000 },
    ]);
    expiring.balance = "3.5";
    const r = settlePool(
      "h1",
      req({ need: a("1"), rate: 0 }),
      { row: expiring, leases: [], known: new Set() },
      T0,
      params,
    );
    // Only 0.5 (1.5 that stays, less the 1.0 reserve) is leasable: a call needing 1.0 gets nothing.
    expect(r.reply.granted).toBe(0n);
    expect(fromAtoms(r.reply.remainder)).toBe("0.5");
    const monthly: WalletTerms = {
      ...plain,
      minimum: 0n,
      grant: {
        amount: a("5"),
        every: "month",
        rollover: false,
        rolloverMax: null,
        expiresAfter: null,
        priority: 0,
      },
    };
    const fresh = settlePool(
      "h1",
      req({ terms: monthly, need: a("0.004"), rate: 0 }),
      { row: null, leases: [], known: new Set() },
      T0,
      params,
    );
    expect(fresh.rows.map((t) => [t.kind, t.amount])).toEqual([["grant", "5"]]);
    expect(fromAtoms(fresh.reply.granted)).toBe("0.032");
    // The last 20 s of the month: this grant is forfeited at the boundary, so none of it is leased.
    const end = Date.UTC(2026, 11, 1) - 5000;
    const late = settlePool(
      "h1",
      req({ terms: monthly, need: a("0.004") }),
      { row: fresh.row, leases: [], known: new Set() },
      end,
      params,
    );
    expect(late.reply.granted).toBe(0n);
  });

  it("R17 grants and expiries fall due by the wallet's time (the request's `at`, the engine's clock); the lease by the pool's clock", () => {
    const expiring = wallet("3", [
      {
        id: "promo",
        source: "topup",
        remaining: "2",
        priority: 0,
        expiresAt: T0 + 60_000,
        createdAt: T0 - 1000,
      },
      { id: "paid", source: "topup", remaining: "1", priority: 1, expiresAt: null, createdAt: T0 - 1000 },
    ]);
    const state = () => ({ row: expiring, leases: [], known: new Set<string>() });
    // The pool's clock is past the promo's expiry; the engine's (wallet) time is not: nothing expires yet.
    const before = settlePool("h1", req({ need: a("1"), at: T0 }), state(), T0 + 3_600_000, params);
    expect(before.rows).toEqual([]);
    expect(before.row.balance).toBe("3");
    // Leased as of the wallet's time (the promo lasts past its horizon), to expire by the pool's clock.
    expect(fromAtoms(before.reply.granted)).toBe("1");
    expect(before.reply.expiresAt).toBe(T0 + 3_600_000 + params.ttlMs);
    // Once the wallet's time reaches the expiry, the sync writes it, whatever the pool's clock says.
    const after = settlePool("h1", req({ at: T0 + 60_000 }), state(), T0, params);
    expect(after.rows.map((t) => [t.kind, t.amount, t.balanceAfter])).toEqual([["expiry", "-2", "1"]]);
    // A grant opens at the wallet's time too: a new wallet's first grant is that of the engine's period.
    const monthly: WalletTerms = {
      ...plain,
      minimum: 0n,
      grant: {
        amount: a("5"),
        every: "month",
        rollover: false,
        rolloverMax: null,
        expiresAfter: null,
        priority: 0,
      },
    };
    const march = Date.UTC(2026, 2, 10);
    const opened = settlePool(
      "h1",
      req({ terms: monthly, at: march }),
      { row: null, leases: [], known: new Set() },
      T0,
      params,
    );
    expect(opened.rows.map((t) => [t.kind, t.id])).toEqual([["grant", `grant:acme:${Date.UTC(2026, 2, 1)}`]]);
    expect(opened.row.nextGrantAt).toBe(Date.UTC(2026, 3, 1));
  });
});
