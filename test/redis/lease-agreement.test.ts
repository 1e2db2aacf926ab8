import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import {
  LEASE_DEFAULTS,
  LeaseLedger,
  type LeaseParams,
  leaseSlice,
} from "../../src/engine/core/engine/lease.js";
import { connect, dropPrefix, testPrefix } from "./redis-helpers.js";

let redis: Redis;
const prefix = testPrefix();
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const amount = fc.oneof(
  fc.integer({ min: 0, max: 60 }),
  fc.double({ min: 0, max: 60, noNaN: true, noDefaultInfinity: true }),
);
const params: fc.Arbitrary<LeaseParams> = fc.record({
  minSlice: fc.integer({ min: 0, max: 5 }),
  maxSlice: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0.5, max: 200, noNaN: true })),
  horizonMs: fc.integer({ min: 1, max: 5_000 }),
  spread: fc.oneof(fc.integer({ min: 2, max: 200 }), fc.double({ min: 2, max: 200, noNaN: true })),
  lowWaterRatio: fc.constant(0.5),
  ttlMs: fc.integer({ min: 1, max: 2_000 }),
});

/** Refunds in whole units: the client sends running totals, exact sums for integers (as for caps' nanos). */
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
    rate: fc.oneof(amount, fc.double({ min: 0, max: 1e5, noNaN: true })),
    limit: fc.oneof(fc.constant(150), fc.double({ min: 0, max: 400, noNaN: true })),
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

describe("R16 the Lua lease script and the TypeScript lease maths agree", () => {
  it("R16 lease_slice (Lua) equals leaseSlice (TS) on random inputs, fractions included", async () => {
    const leases = new RedisLeases(redis, { prefix });
    const input = fc.record({
      remainder: fc.oneof(amount, fc.double({ min: 0, max: 1e7, noNaN: true })),
      holders: fc.integer({ min: 1, max: 100 }),
      rate: fc.double({ min: 0, max: 1e6, noNaN: true }),
      need: amount,
      held: fc.oneof(amount, fc.double({ min: 0, max: 3_000, noNaN: true })),
    });
    await fc.assert(
      fc.asyncProperty(input, fc.oneof(fc.constant(LEASE_DEFAULTS), params), async (i, p) => {
        expect(await leases.sliceInScript(i, p)).toBe(leaseSlice(i, p));
      }),
      { numRuns: 300 },
    );
  });

  it("R5 R16 random acquire/report/release/expiry/refund sequences give the same results in Redis and in memory", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(params, fc.array(op, { minLength: 1, maxLength: 40 }), async (p, ops) => {
        const memory = new LeaseLedger(p);
        const pool = { counter: `agree-${run++}`, periodStart: 0, periodEnd: null };
        const clients = [0, 1, 2].map((i) => new RedisLeases(redis, { prefix, params: p, holder: `h${i}` }));
        let now = 1_700_000_000_000;
        for (const o of ops) {
          if (o.kind === "wait") {
            now += o.ms;
            continue;
          }
          const c = clients[o.h]!;
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
            expect(await c.acquire(pool, r)).toEqual(memory.acquire({ holder: c.holder, ...r }));
          } else if (o.kind === "report") {
            expect(await c.report(pool, o.consumed, o.giveBack, now, o.refunded)).toEqual(
              memory.report(c.holder, o.consumed, o.giveBack, now, o.refunded),
            );
          } else {
            expect(await c.release(pool, o.consumed, now, o.refunded)).toEqual(
              memory.release(c.holder, o.consumed, now, o.refunded),
            );
          }
        }
        const stored = await clients[0]!.totals(pool);
        if (stored.limit !== 0 || stored.consumed !== 0) expect(stored).toEqual(memory.totals());
        await redis.del(...clients[0]!.keys(pool));
      }),
      { numRuns: 150 },
    );
  });
});
