import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";
import { InputError } from "../../src/engine/core/errors.js";
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

const DAY = 86_400_000;

describe("R16 Redis lease pools", () => {
  it("a pool's keys share one hash tag, so a counter lives in one Redis Cluster slot", () => {
    const leases = new RedisLeases(redis, { prefix });
    const keys = leases.keys({ counter: "acme/api", periodStart: 1_000, periodEnd: 2_000 });
    const tags = keys.map((k) => k.slice(k.indexOf("{"), k.indexOf("}") + 1));
    expect(new Set(tags)).toEqual(new Set(["{acme/api@1000}"]));
  });

  it("R6 a new period is a new pool that starts from the full limit; the old one expires after its period", async () => {
    const leases = new RedisLeases(redis, { prefix, graceMs: 60_000 });
    const now = Date.now();
    const may = { counter: "r6", periodStart: now - DAY, periodEnd: now + DAY };
    const june = { counter: "r6", periodStart: now + DAY, periodEnd: now + 2 * DAY };
    const first = await leases.acquire(may, { limit: 10, need: 10, rate: 0 });
    expect(first.granted).toBe(10);
    expect((await leases.acquire(may, { limit: 10, consumed: 10, need: 1, rate: 0 })).granted).toBe(0);
    const next = await leases.acquire(june, { limit: 10, need: 1, rate: 0, now: now + DAY });
    expect(next.granted + next.remainder).toBe(10);
    const ttl = await redis.pttl(leases.keys(may)[0]);
    expect(ttl).toBeGreaterThan(DAY);
    expect(ttl).toBeLessThanOrEqual(DAY + 60_000);
  });

  it("a batch call carries each pool's arguments as one string: empty fields and many pools keep their places", async () => {
    const leases = new RedisLeases(redis, { prefix });
    const pools = Array.from({ length: 300 }, (_, i) => ({
      counter: `batch-${i}`,
      periodStart: 0,
      periodEnd: null,
    }));
    // `now` omitted (the server's clock: an empty field) on every other pool.
    const got = await leases.acquireMany(
      pools.map((pool, i) => ({
        pool,
        request: { limit: 1_000 + i, need: 5, rate: 0, base: i, ...(i % 2 === 0 ? { now: Date.now() } : {}) },
      })),
    );
    expect(got.map((r) => r.granted + r.remainder)).toEqual(pools.map(() => 1_000));
    const back = await leases.reportMany(
      pools.map((pool, i) => ({ pool, consumed: i % 3, giveBack: Infinity })),
    );
    expect(back.map((r) => r.allowance)).toEqual(pools.map(() => 0));
    const totals = await leases.totals(pools[7]!);
    expect(totals).toMatchObject({ limit: 1_007, consumed: 7 + 1, outstanding: 0 });
  });

  it("a holder id holding the batch separator is refused", () => {
    expect(() => new RedisLeases(redis, { prefix, holder: "a\x1fb" })).toThrow(InputError);
  });

  it("a pool that starts mid-period starts from the usage already counted (base)", async () => {
    const leases = new RedisLeases(redis, { prefix });
    const pool = { counter: "base", periodStart: 0, periodEnd: null };
    const r = await leases.acquire(pool, { limit: 100, need: 0, rate: 0, base: 97 });
    expect(r.granted + r.remainder).toBe(3);
    expect(await redis.pttl(leases.keys(pool)[0])).toBe(-1);
  });

  it("reporting to a pool that is gone returns nothing and creates nothing", async () => {
    const leases = new RedisLeases(redis, { prefix });
    const pool = { counter: "gone", periodStart: 0, periodEnd: null };
    expect(await leases.report(pool, 3, 0)).toEqual({
      returned: 0,
      allowance: 0,
      remainder: 0,
      holders: 0,
      expiresAt: 0,
    });
    expect(await redis.exists(...leases.keys(pool))).toBe(0);
  });

  it("a holder's lease expires TTL after its last acquire or report, on the Redis clock", async () => {
    const leases = new RedisLeases(redis, { prefix, params: { ...LEASE_DEFAULTS, ttlMs: 5_000 } });
    const pool = { counter: "ttl", periodStart: 0, periodEnd: null };
    const [sec] = await redis.time();
    const r = await leases.acquire(pool, { limit: 100, need: 1, rate: 0 });
    expect(r.expiresAt - Number(sec) * 1000).toBeGreaterThanOrEqual(5_000);
    expect(r.expiresAt - Number(sec) * 1000).toBeLessThan(7_000);
  });

  it("consumption must be a finite number >= 0 (refunds are not lease operations)", async () => {
    const leases = new RedisLeases(redis, { prefix });
    const pool = { counter: "bad", periodStart: 0, periodEnd: null };
    await expect(leases.report(pool, -1)).rejects.toThrow(InputError);
    await expect(leases.acquire(pool, { limit: Number.NaN, need: 1, rate: 0 })).rejects.toThrow(
      /limit must be/,
    );
  });
});
