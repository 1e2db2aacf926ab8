/**
 * The ledger's columns (R17): number-lane debits, exact debits and rows of
 * other kinds, interleaved over several accounts, with folds between them,
 * batches cleared and copied or taken (their columns reused once released),
 * notes and undone entries. Every entry read back
 * (from the ledger and from each batch's copy) must equal the row an
 * independent model expects: id, customer, kind, time, amount, balance after,
 * bundle version, entitlement, note.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Ledger, WalletAccount, WalletLanes, type WalletTx } from "../../src/engine/core/wallet/account.js";
import { SCALE } from "../../src/engine/core/wallet/amount.js";

const T0 = Date.parse("2026-03-10T12:00:00Z");
const CUSTOMERS = ["a", "b", "c"];

const op = fc.oneof(
  fc.record({
    k: fc.constant("quick" as const),
    who: fc.nat({ max: 2 }),
    atoms: fc.integer({ min: 1, max: 5_000_000 }),
    given: fc.boolean(),
    ent: fc.constantFrom("api", "chat", null),
  }),
  fc.record({
    k: fc.constant("exact" as const),
    who: fc.nat({ max: 2 }),
    atoms: fc.integer({ min: 1, max: 5_000_000 }),
    ent: fc.constantFrom("api", "chat"),
  }),
  fc.record({
    k: fc.constant("topUp" as const),
    who: fc.nat({ max: 2 }),
    units: fc.integer({ min: 1, max: 9 }),
  }),
  fc.record({ k: fc.constant("fold" as const), who: fc.nat({ max: 2 }) }),
  fc.record({ k: fc.constant("note" as const), pick: fc.nat() }),
  fc.record({ k: fc.constant("undo" as const), n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ k: fc.constant("flush" as const), take: fc.boolean() }),
  fc.record({ k: fc.constant("release" as const) }),
  fc.record({ k: fc.constant("reload" as const) }),
);

const terms = {
  unit: "USD",
  minimum: 0n,
  zone: "UTC",
  grant: null,
};

describe("ledger columns (R17)", () => {
  it("R17 every entry reads back exactly as made, before and after each batch is copied or taken and cleared", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 1, max: 4 }), (ops, first) => {
        let version = first;
        const lanes = new WalletLanes();
        // Little room at first: batches are taken whole (columns handed over) as well as copied.
        const sink = new Ledger(lanes, 4);
        const accounts = CUSTOMERS.map((c) => new WalletAccount(c, terms, T0, lanes));
        const balances = accounts.map(() => 0n);
        for (const [k, acc] of accounts.entries()) {
          acc.add(
            "credit",
            "topup",
            `open-${k}`,
            1000n * SCALE,
            T0,
            { priority: 0, expiresAt: Infinity, note: null },
            version,
            sink,
          );
          balances[k] = 1000n * SCALE;
        }
        let expected: WalletTx[] = sink.txs().map((t) => ({ ...t }));
        const copies: { copy: Ledger; rows: WalletTx[] }[] = [];
        let seq = 0;
        let now = T0;
        for (const o of ops) {
          now += 1;
          switch (o.k) {
            case "quick": {
              const acc = accounts[o.who] as WalletAccount;
              if (!acc.covers(o.atoms)) break;
              acc.spendQuick(o.atoms);
              const id = o.given ? `call-${seq++}` : seq++;
              sink.debitQuick(id, acc.index, now, o.atoms, acc.spent, version, o.ent);
              balances[o.who] = (balances[o.who] as bigint) - BigInt(o.atoms);
              expected.push(
                debitRow(id, acc.customer, now, BigInt(o.atoms), balances[o.who] as bigint, version, o.ent),
              );
              break;
            }
            case "exact": {
              const acc = accounts[o.who] as WalletAccount;
              const id = `exact-${seq++}`;
              if (!acc.debit(id, BigInt(o.atoms), now, version, o.ent, sink)) break;
              balances[o.who] = (balances[o.who] as bigint) - BigInt(o.atoms);
              expected.push(
                debitRow(id, acc.customer, now, BigInt(o.atoms), balances[o.who] as bigint, version, o.ent),
              );
              break;
            }
            case "topUp": {
              const acc = accounts[o.who] as WalletAccount;
              const amount = BigInt(o.units) * SCALE;
              acc.add(
                "credit",
                "topup",
                `top-${seq++}`,
                amount,
                now,
                { priority: 1, expiresAt: Infinity, note: null },
                version,
                sink,
              );
              balances[o.who] = (balances[o.who] as bigint) + amount;
              expected.push({ ...(sink.last() as WalletTx) });
              expect(sink.last()?.balanceAfter).toBe(balances[o.who]);
              break;
            }
            case "fold":
              // Reading the balance folds the account's unfolded spend into its base.
              expect((accounts[o.who] as WalletAccount).balance).toBe(balances[o.who]);
              break;
            case "note": {
              if (sink.length === 0) break;
              const i = o.pick % sink.length;
              sink.note(i, `note ${i}`);
              (expected[i] as WalletTx).note = `note ${i}`;
              break;
            }
            case "undo": {
              // Undo the newest entries the way a failed synchronous write does (the account restored aside).
              const n = Math.max(0, sink.length - o.n);
              sink.truncate(n);
              expected = expected.slice(0, n);
              break;
            }
            case "flush":
              expect(sink.txs()).toEqual(expected);
              // A store copies the batch, or takes it (its columns handed over when mostly full).
              copies.push({ copy: o.take ? sink.take() : sink.snapshot(), rows: expected });
              sink.clear();
              expected = [];
              break;
            case "reload":
              // A new bundle: later entries carry its version.
              version++;
              break;
            case "release":
              // The store dropped its oldest batch: its columns may be reused by the ledger.
              copies.shift()?.copy.release();
              break;
          }
        }
        expect(sink.length).toBe(expected.length);
        expect(sink.txs()).toEqual(expected);
        for (let i = 0; i < expected.length; i++) {
          const t = expected[i] as WalletTx;
          expect([sink.id(i), sink.customer(i), sink.kind(i), sink.time(i)]).toEqual([
            t.id,
            t.customer,
            t.kind,
            t.at,
          ]);
        }
        for (const { copy, rows } of copies) expect(copy.txs()).toEqual(rows);
      }),
      { numRuns: 300 },
    );
  });
});

function debitRow(
  id: string | number,
  customer: string,
  at: number,
  amount: bigint,
  balanceAfter: bigint,
  version: number,
  entitlement: string | null,
): WalletTx {
  return {
    id,
    customer,
    kind: "debit",
    at,
    amount: -amount,
    balanceAfter,
    version,
    lot: null,
    entitlement,
    note: null,
  };
}
