/**
 * R17 as properties of the pure wallet: for random sequences of top-ups,
 * debits, reservations, settles, releases and the passing of time (grants,
 * expiries), the balance is the sum of the ledger, `available` never goes
 * below zero through a debit, and a refused debit changes nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Ledger, WalletAccount, type WalletTerms } from "../../src/engine/core/wallet/account.js";
import { SCALE } from "../../src/engine/core/wallet/amount.js";

const DAY = 86_400_000;
const T0 = Date.parse("2026-03-10T12:00:00Z");

const op = fc.oneof(
  fc.record({
    k: fc.constant("topUp" as const),
    amount: fc.integer({ min: 1, max: 500 }),
    days: fc.option(fc.integer({ min: 1, max: 60 })),
    priority: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({ k: fc.constant("debit" as const), amount: fc.integer({ min: 0, max: 300 }) }),
  fc.record({
    k: fc.constant("reserve" as const),
    amount: fc.integer({ min: 1, max: 200 }),
    ttlDays: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({ k: fc.constant("settle" as const), pick: fc.nat(), actual: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ k: fc.constant("release" as const), pick: fc.nat() }),
  fc.record({ k: fc.constant("wait" as const), days: fc.integer({ min: 0, max: 40 }) }),
);

const terms = (minimum: number, grant: number | null, rolloverMax: number | null): WalletTerms => ({
  unit: "USD",
  minimum: BigInt(minimum) * SCALE,
  zone: "UTC",
  grant:
    grant === null
      ? null
      : {
          amount: BigInt(grant) * SCALE,
          every: "month",
          rollover: rolloverMax !== null,
          rolloverMax: rolloverMax === null ? null : BigInt(rolloverMax) * SCALE,
          expiresAfter: "P20D",
          priority: 0,
        },
});

describe("wallet ledger properties (R17)", () => {
  it("R17 the balance equals the ledger sum and debits never take available below zero", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }),
        fc.option(fc.integer({ min: 0, max: 300 })),
        fc.option(fc.integer({ min: 0, max: 100 })),
        fc.array(op, { maxLength: 60 }),
        (minimum, grant, rolloverMax, ops) => {
          const sink = new Ledger();
          let now = T0;
          const acc = new WalletAccount("c", terms(minimum, grant, rolloverMax), now);
          acc.open(now, null, 1, sink);
          const holds: string[] = [];
          let seq = 0;
          for (const o of ops) {
            acc.advance(now, 1, sink);
            const before = { balance: acc.balance, available: acc.available, txs: sink.length };
            switch (o.k) {
              case "topUp":
                acc.add(
                  "credit",
                  "topup",
                  `t${seq++}`,
                  BigInt(o.amount) * SCALE,
                  now,
                  {
                    priority: o.priority,
                    expiresAt: o.days === null ? Infinity : now + o.days * DAY,
                    note: null,
                  },
                  1,
                  sink,
                );
                break;
              case "debit": {
                const amount = BigInt(o.amount) * SCALE;
                const ok = acc.debit(`d${seq++}`, amount, now, 1, "e", sink);
                if (ok && amount > 0n) expect(acc.available).toBeGreaterThanOrEqual(0n);
                else if (!ok) {
                  expect(amount).toBeGreaterThan(before.available);
                  expect({ balance: acc.balance, available: acc.available, txs: sink.length }).toEqual(
                    before,
                  );
                }
                break;
              }
              case "reserve": {
                const id = `h${seq++}`;
                if (acc.hold(id, BigInt(o.amount) * SCALE, now + o.ttlDays * DAY)) {
                  holds.push(id);
                  expect(acc.available).toBeGreaterThanOrEqual(0n);
                }
                break;
              }
              case "settle": {
                const id = holds.splice(o.pick % Math.max(1, holds.length), 1)[0];
                if (id === undefined) break;
                acc.release(id);
                const cost = BigInt(o.actual) * SCALE;
                const avail = acc.available > 0n ? acc.available : 0n;
                acc.debit(id, cost > avail ? avail : cost, now, 1, "e", sink);
                break;
              }
              case "release": {
                const id = holds.splice(o.pick % Math.max(1, holds.length), 1)[0];
                if (id !== undefined) acc.release(id);
                break;
              }
              case "wait":
                now += o.days * DAY;
                break;
            }
            const ledger = sink.txs().reduce((s, t) => s + t.amount, 0n);
            expect(acc.balance).toBe(ledger);
            expect(acc.balance).toBe(acc.lots.reduce((s, l) => s + l.remaining, 0n));
            expect(acc.balance).toBeGreaterThanOrEqual(0n);
            const last = sink.last();
            if (last !== undefined) expect(last.balanceAfter).toBe(acc.balance);
            expect(acc.available).toBe(acc.balance - acc.terms.minimum - acc.reserved);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
