import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LeasePool, RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";
import { connect, dropPrefix, testPrefix } from "./redis-helpers.js";

/**
 * A sliding window's lease pool in Redis (`acquire_sliding` / `report_sliding`
 * in lease.lua), driven bucket by bucket with explicit clocks: a window of
 * 60 s in 60 buckets of 1 s, so a grant for bucket k sums buckets k - 60 .. k.
 */
const W = 60_000;
const B = 1_000;
const K = 60;
const window = { windowMs: W, bucketMs: B, buckets: K };
/** A bucket well after the epoch, so the keys' expiry (bucket times) lies in the future. */
const K0 = Math.floor(Date.now() / B) + 10;

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function holders(n: number, ttlMs = LEASE_DEFAULTS.ttlMs) {
  const prefix = testPrefix();
  prefixes.push(prefix);
  const params = { ...LEASE_DEFAULTS, ttlMs };
  return Array.from(
    { length: n },
    (_, i) => new RedisLeases(redis, { prefix, params, holder: `engine-${i}`, graceMs: 5_000 }),
  );
}

const at = (counter: string, k: number): LeasePool => ({
  counter,
  periodStart: k * B,
  periodEnd: (k + 1) * B,
  window,
});

/** Wall time (for lease TTLs) inside bucket k. */
const wall = (k: number) => k * B + 100;

describe("sliding windows on Redis quota leases", () => {
  it("a bucket's usage counts until its last window has passed, then its units are granted again", async () => {
    const [a, b] = holders(2) as [RedisLeases, RedisLeases];
    const c = "acme|api";
    const first = await a.acquire(at(c, K0), { limit: 10, need: 4, rate: 0, now: wall(K0) });
    expect(first.granted).toBe(4);
    await a.release(at(c, K0), 4, wall(K0));
    // 59 and 60 buckets later bucket K0 still overlaps every window a call in the bucket can end.
    expect(
      (await b.acquire(at(c, K0 + 59), { limit: 10, need: 7, rate: 0, now: wall(K0 + 59) })).granted,
    ).toBe(0);
    const late = await b.acquire(at(c, K0 + 60), { limit: 10, need: 6, rate: 0, now: wall(K0 + 60) });
    expect(late).toMatchObject({ granted: 6, remainder: 0 });
    await b.release(at(c, K0 + 60), 6, wall(K0 + 60));
    expect(
      (await a.acquire(at(c, K0 + 60), { limit: 10, need: 1, rate: 0, now: wall(K0 + 60) })).granted,
    ).toBe(0);
    // Bucket K0 has left every window of bucket K0 + 61: its 4 units are back, the 6 of K0 + 60 are not.
    const back = await a.acquire(at(c, K0 + 61), { limit: 10, need: 4, rate: 0, now: wall(K0 + 61) });
    expect(back).toMatchObject({ granted: 4, remainder: 0 });
    await a.release(at(c, K0 + 61), 0, wall(K0 + 61));
    // A lease given back unused frees its units at once.
    expect(await a.totals(at(c, K0 + 61))).toMatchObject({ consumed: 6, outstanding: 0, holders: 0 });
  });

  it("allowance granted and not reported in an earlier bucket counts in the window until it is given back", async () => {
    const [a, b] = holders(2) as [RedisLeases, RedisLeases];
    const c = "acme|api";
    expect((await a.acquire(at(c, K0), { limit: 10, need: 7, rate: 0, now: wall(K0) })).granted).toBe(7);
    // Bucket K0 + 1: a's 7 are outstanding (it may have spent them in bucket K0).
    expect((await b.acquire(at(c, K0 + 1), { limit: 10, need: 4, rate: 0, now: wall(K0 + 1) })).granted).toBe(
      0,
    );
    expect((await b.acquire(at(c, K0 + 1), { limit: 10, need: 3, rate: 0, now: wall(K0 + 1) })).granted).toBe(
      3,
    );
    // a spent 2 in bucket K0 and gives the other 5 back: they are free in bucket K0 + 1.
    const r = await a.release(at(c, K0), 2, wall(K0 + 1));
    expect(r.returned).toBe(5);
    expect((await b.acquire(at(c, K0 + 1), { limit: 10, need: 5, rate: 0, now: wall(K0 + 1) })).granted).toBe(
      5,
    );
    expect(await b.totals(at(c, K0 + 1))).toMatchObject({ consumed: 2, outstanding: 8, holders: 1 });
  });

  it("a killed holder's slice in a passed bucket returns after the lease TTL", async () => {
    const [a, b] = holders(2, 1_000) as [RedisLeases, RedisLeases];
    const c = "acme|api";
    expect((await a.acquire(at(c, K0), { limit: 10, need: 6, rate: 0, now: wall(K0) })).granted).toBe(6);
    await a.report(at(c, K0), 1, 0, wall(K0));
    // a dies. Within its TTL its 5 unreported units stay counted.
    expect(
      (await b.acquire(at(c, K0 + 1), { limit: 10, need: 5, rate: 0, now: wall(K0) + 900 })).granted,
    ).toBe(0);
    // After it, they are reclaimed (what it reported stays consumed).
    const after = await b.acquire(at(c, K0 + 1), { limit: 10, need: 9, rate: 0, now: wall(K0) + 1_200 });
    expect(after).toMatchObject({ granted: 9, remainder: 0 });
  });

  it("no grant lands in a bucket older than the newest one granted in (a holder whose clock is behind gets nothing)", async () => {
    const [a, b] = holders(2) as [RedisLeases, RedisLeases];
    const c = "acme|api";
    expect((await a.acquire(at(c, K0 + 5), { limit: 10, need: 1, rate: 0, now: wall(K0) })).granted).toBe(1);
    const behind = await b.acquire(at(c, K0 + 4), { limit: 10, need: 1, rate: 0, now: wall(K0) });
    expect(behind).toMatchObject({ granted: 0, remainder: 0 });
    // A report into the older bucket still counts (usage happened there).
    await b.report(at(c, K0 + 4), 2, 0, wall(K0));
    expect((await b.acquire(at(c, K0 + 5), { limit: 10, need: 8, rate: 0, now: wall(K0) })).granted).toBe(0);
    expect((await b.acquire(at(c, K0 + 5), { limit: 10, need: 7, rate: 0, now: wall(K0) })).granted).toBe(7);
  });

  it("a new pool starts from the usage the engine already counted, by bucket", async () => {
    const [a] = holders(1) as [RedisLeases];
    const c = "acme|api";
    // 3 units 70 buckets ago (outside every window now), 4 units 10 buckets ago.
    const base = `${K0 - 70}:3,${K0 - 10}:4`;
    const r = await a.acquire(at(c, K0), { limit: 10, need: 7, rate: 0, now: wall(K0), baseBuckets: base });
    expect(r.granted).toBe(0);
    expect((await a.acquire(at(c, K0), { limit: 10, need: 6, rate: 0, now: wall(K0) })).granted).toBe(6);
    // The base seeds only a pool that does not exist: asked again, nothing changes.
    const again = await a.acquire(at(c, K0), {
      limit: 10,
      need: 0,
      rate: 0,
      now: wall(K0),
      baseBuckets: `${K0}:9`,
    });
    expect(again).toMatchObject({ granted: 0, allowance: 6 });
  });

  it("memory stays bounded: buckets that left every window are dropped, and the keys expire after the last window", async () => {
    const [a] = holders(1) as [RedisLeases];
    const c = "acme|api";
    for (let k = K0; k < K0 + 200; k++) {
      await a.acquire(at(c, k), { limit: 1_000_000, need: 1, rate: 0, now: wall(K0) });
      await a.release(at(c, k), 1, wall(K0));
    }
    const [poolKey, alwKey, expKey] = a.keys(at(c, K0));
    const fields = await redis.hkeys(poolKey);
    // limit, hi, and at most one consumed field per bucket of the newest window.
    expect(fields.length).toBeLessThanOrEqual(K + 1 + 2);
    expect(await a.totals(at(c, K0 + 199))).toMatchObject({ consumed: K + 1, outstanding: 0 });
    const ttl = await redis.pexpiretime(poolKey);
    expect(ttl).toBe((K0 + 200 + K) * B + 5_000);
    expect(await redis.exists(alwKey, expKey)).toBe(0);
  });

  it("a report with giveBack Infinity gives the whole allowance back, on calendar and sliding pools alike (how a passed period or bucket is returned)", async () => {
    const [a] = holders(1) as [RedisLeases];
    const calendar = { counter: "acme|api", periodStart: 0, periodEnd: null };
    const sliding = at("acme|api", K0);
    await a.acquire(calendar, { limit: 10, need: 5, rate: 0 });
    await a.acquire(sliding, { limit: 10, need: 5, rate: 0, now: wall(K0) });
    const [r1, r2] = await a.reportMany([
      { pool: calendar, consumed: 2, giveBack: Infinity },
      { pool: sliding, consumed: 2, giveBack: Infinity, now: wall(K0) },
    ]);
    expect(r1).toMatchObject({ returned: 3, allowance: 0 });
    expect(r2).toMatchObject({ returned: 3, allowance: 0 });
    expect(await a.totals(calendar)).toMatchObject({ consumed: 2, outstanding: 0, holders: 0 });
    expect(await a.totals(sliding)).toMatchObject({ consumed: 2, outstanding: 0, holders: 0 });
  });

  it("every key of a sliding pool shares one hash tag (one cluster slot), whatever the bucket", () => {
    const [a] = holders(1) as [RedisLeases];
    const keys = [...a.keys(at("acme|api", K0)), ...a.keys(at("acme|api", K0 + 1000))];
    const tags = new Set(keys.map((k) => k.slice(k.indexOf("{"), k.indexOf("}") + 1)));
    expect(tags).toEqual(new Set(["{acme|api@sliding:60000}"]));
  });
});
