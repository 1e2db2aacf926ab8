import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgEngineStore } from "../../src/engine/adapters/store/postgres/engine-store.js";
import { PgLeases } from "../../src/engine/adapters/store/postgres/pg-leases.js";
import { parseLocation } from "../../src/engine/adapters/store/postgres/url.js";
import { LeaseLedger, type LeaseParams } from "../../src/engine/core/engine/lease.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * The Postgres lease rows run the operations of the in-memory ledger
 * (core/engine/lease.ts): the same random sequences give the same results.
 * Units are whole numbers here: a holder reports its cumulative usage, and a
 * sum of fractions differs from the sum of its parts in the last bits.
 */
const schema = pgSchema("limitr_pgagree");
const params: LeaseParams = {
  minSlice: 2,
  maxSlice: 60,
  horizonMs: 1_000,
  spread: 100,
  lowWaterRatio: 0.5,
  ttlMs: 1_000,
};
let clients: PgLeases[] = [];
beforeAll(async () => {
  (await PgEngineStore.open(schema.url)).close();
  clients = [0, 1, 2].map((i) => new PgLeases(parseLocation(schema.url), params, { holder: `h${i}` }));
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await schema.drop();
});

const amount = fc.integer({ min: 0, max: 60 });
const refund = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 }));
type Op =
  | {
      kind: "acquire";
      h: number;
      consumed: number;
      need: number;
      rate: number;
      limit: number;
      base: number;
      refunded: number;
    }
  | { kind: "report"; h: number; consumed: number; giveBack: number; refunded: number }
  | { kind: "release"; h: number; consumed: number; refunded: number }
  | { kind: "wait"; ms: number };
const h = fc.integer({ min: 0, max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("acquire" as const),
    h,
    consumed: amount,
    need: amount,
    rate: fc.integer({ min: 0, max: 500 }),
    limit: fc.oneof(fc.constant(150), fc.integer({ min: 0, max: 400 })),
    base: amount,
    refunded: refund,
  }),
  fc.record({
    kind: fc.constant("report" as const),
    h,
    consumed: amount,
    giveBack: amount,
    refunded: refund,
  }),
  fc.record({ kind: fc.constant("release" as const), h, consumed: amount, refunded: refund }),
  fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 1_500 }) }),
);

describe("R16 lease pools in Postgres rows agree with the TypeScript ledger", () => {
  it("R5 R16 random acquire/report/release/expiry/refund sequences give the same results in Postgres and in memory", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const memory = new LeaseLedger(params);
        const pool = { counter: `agree-${run++}`, periodStart: 0, periodEnd: null };
        let now = 1_700_000_000_000;
        for (const o of ops) {
          if (o.kind === "wait") {
            now += o.ms;
            continue;
          }
          const c = clients[o.h] as PgLeases;
          if (o.kind === "acquire") {
            const r = {
              limit: o.limit,
              consumed: o.consumed,
              need: o.need,
              rate: o.rate,
              base: o.base,
              refunded: o.refunded,
              now,
            };
            const [got] = await c.acquireMany([{ pool, request: r }]);
            expect(got).toEqual(memory.acquire({ holder: c.holder, ...r }));
          } else if (o.kind === "report") {
            const [got] = await c.reportMany([
              { pool, consumed: o.consumed, giveBack: o.giveBack, now, refunded: o.refunded },
            ]);
            expect(got).toEqual(memory.report(c.holder, o.consumed, o.giveBack, now, o.refunded));
          } else {
            const [got] = await c.releaseMany([{ pool, consumed: o.consumed, now, refunded: o.refunded }]);
            expect(got).toEqual(memory.release(c.holder, o.consumed, now, o.refunded));
          }
        }
        const stored = await pgQuery<{ lim: number; consumed: number; outstanding: number }>(
          "SELECT lim, consumed, outstanding FROM lease_pools WHERE counter = $1",
          [pool.counter],
          schema.name,
        );
        const t = memory.totals();
        if (stored.length > 0)
          expect(stored[0]).toEqual({ lim: t.limit, consumed: t.consumed, outstanding: t.outstanding });
      }),
      { numRuns: 25 },
    );
  }, 60_000);

  it("R16 a report whose commit landed but whose reply was lost counts once when its units are sent again", async () => {
    const pool = { counter: "lost|reply", periodStart: 0, periodEnd: null };
    const now = 1_700_000_000_000;
    const seen = new PgLeases(parseLocation(schema.url), params, { holder: "lost" });
    // The same holder as it stands after a call it saw fail: it does not know the report landed.
    const unaware = new PgLeases(parseLocation(schema.url), params, { holder: "lost" });
    try {
      const [granted] = await seen.acquireMany([{ pool, request: { limit: 100, need: 20, rate: 0, now } }]);
      expect(granted?.granted).toBe(20);
      // 5 units reported and committed; the reply is "lost" to `unaware`.
      await seen.reportMany([{ pool, consumed: 5, giveBack: 0, now }]);
      // The engine put the 5 back with its unreported units and spent 3 more: it sends 8.
      const [r] = await unaware.reportMany([{ pool, consumed: 8, giveBack: 0, now }]);
      // 20 granted - 8 consumed in all (not 13), and the pool counted 8.
      expect(r).toMatchObject({ allowance: 12, remainder: 80 });
      const stored = await pgQuery<{ consumed: number; outstanding: number }>(
        "SELECT consumed, outstanding FROM lease_pools WHERE counter = $1",
        [pool.counter],
        schema.name,
      );
      expect(stored).toEqual([{ consumed: 8, outstanding: 12 }]);
      // Sending the same cumulative figure again (a retried call) changes nothing.
      const [again] = await unaware.reportMany([{ pool, consumed: 0, giveBack: 0, now }]);
      expect(again).toMatchObject({ allowance: 12, remainder: 80 });
    } finally {
      await seen.close();
      await unaware.close();
    }
  });

  it("many pools in one transaction, and a pool that does not exist, answer as one call per pool would", async () => {
    const [a, b] = clients as [PgLeases, PgLeases];
    const p1 = { counter: "many|one", periodStart: 0, periodEnd: null };
    const p2 = { counter: "many|two", periodStart: 0, periodEnd: null };
    const now = 1_700_000_000_000;
    const req = { limit: 100, consumed: 0, need: 1, rate: 10, now };
    const got = await a.acquireMany([
      { pool: p1, request: req },
      { pool: p2, request: { ...req, limit: 5 } },
    ]);
    expect(got.map((r) => r.granted)).toEqual([10, 2]);
    // A report on a pool nobody created is nothing to report on.
    const none = await b.reportMany([
      { pool: { counter: "many|none", periodStart: 0, periodEnd: null }, consumed: 3, giveBack: 0, now },
    ]);
    expect(none).toEqual([{ returned: 0, allowance: 0, remainder: 0, holders: 0, expiresAt: 0 }]);
    const back = await a.releaseMany([
      { pool: p1, consumed: 4, now },
      { pool: p2, consumed: 1, now },
    ]);
    expect(back.map((r) => [r.returned, r.remainder])).toEqual([
      [6, 96],
      [1, 4],
    ]);
  });
});
