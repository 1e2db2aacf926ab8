import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { LEASE_DEFAULTS, type LeaseParams } from "../../src/engine/core/engine/lease.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import type { LimitrOptions } from "../../src/engine/runtime/options.js";
import { connect, dropPrefix, REDIS_URL, testPrefix } from "./redis-helpers.js";

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function prefixed(): string {
  const p = testPrefix();
  prefixes.push(p);
  return p;
}

const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: {
      default: true,
      entitlements: {
        api: { meter: "calls", limit: 50, mode: "hard" },
        seen: { meter: "calls", limit: 1_000, mode: "soft" },
      },
    },
  },
});

/** One hard limit far above what a test spends: every call is decided from a lease. */
const wide = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: { default: true, entitlements: { api: { meter: "calls", limit: 1_000_000, mode: "hard" } } },
  },
});

/** An engine on the test policy sharing counters under `prefix`, with more options. */
const openShared = (prefix: string, more: Partial<LimitrOptions> = {}) =>
  Limitr.open({
    policy,
    store: "memory",
    alerts: false,
    counters: REDIS_URL,
    countersPrefix: prefix,
    ...more,
  });

/** An engine on `wide` sharing counters under `prefix`, with these lease parameters. */
const openWide = (prefix: string, lease: Partial<LeaseParams>) =>
  Limitr.open({
    policy: wide,
    store: "memory",
    alerts: false,
    counters: REDIS_URL,
    countersPrefix: prefix,
    lease,
  });

describe("shared counters in one process (real Redis)", () => {
  it("R16 acquireMany gives each pool what one acquire per pool gives", async () => {
    const one = new RedisLeases(redis, { prefix: prefixed(), holder: "h" });
    const many = new RedisLeases(redis, { prefix: prefixed(), holder: "h" });
    const requests = [
      { limit: 100, need: 1, rate: 30 },
      { limit: 7, need: 3, rate: 0, consumed: 0 },
      { limit: 1_000_000, need: 0, rate: 5_000, base: 250 },
      { limit: 2, need: 5, rate: 1 },
    ];
    const pools = requests.map((_, i) => ({ counter: `c${i}`, periodStart: 0, periodEnd: null }));
    for (let round = 0; round < 3; round++) {
      const singles = [];
      for (const [i, r] of requests.entries())
        singles.push(await one.acquire(pools[i]!, { ...r, now: 1_000 + round }));
      const batch = await many.acquireMany(
        requests.map((r, i) => ({ pool: pools[i]!, request: { ...r, now: 1_000 + round } })),
      );
      expect(batch).toEqual(singles);
    }
    const reports = await many.reportMany(
      pools.map((pool) => ({ pool, consumed: 1, giveBack: 1, now: 2_000 })),
    );
    const singleReports = [];
    for (const pool of pools) singleReports.push(await one.report(pool, 1, 1, 2_000));
    expect(reports).toEqual(singleReports);
  });

  it("R16 soft totals and hard usage from two engines are shared after a flush", async () => {
    const prefix = prefixed();
    const open = () => Limitr.open({ policy, store: "memory", counters: REDIS_URL, countersPrefix: prefix });
    const [a, b] = [await open(), await open()];
    try {
      expect(a.allow("acme", "seen", 3)).toBe(true);
      expect(b.allow("acme", "seen", 4)).toBe(true);
      expect(await a.allowAsync("acme", "api", 10)).toBe(true);
      // A flush pulls the totals of the counters an engine knows (b has looked at acme's api).
      expect(b.usage("acme", "api").used).toBe(0);
      await a.flush();
      await b.flush();
      await a.flush();
      expect(a.usage("acme", "seen").used).toBe(7);
      expect(b.usage("acme", "seen").used).toBe(7);
      expect(b.usage("acme", "api")).toMatchObject({ used: 10, remaining: 40 });
      expect(a.status().counters).toMatchObject({ reachable: true, lastError: null, pendingAcquires: 0 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("R16 allow() on the wall clock (the fast path) spends only what the held lease covers: two engines allow exactly the limit", async () => {
    const prefix = prefixed();
    const open = () =>
      Limitr.open({
        policy,
        store: "memory",
        alerts: false,
        counters: REDIS_URL,
        countersPrefix: prefix,
        lease: { minSlice: 4, horizonMs: 1_000, ttlMs: 30_000 },
      });
    const [a, b] = [await open(), await open()];
    try {
      let allowed = 0;
      // Both engines take slices of acme's pool of 50 and spend them one call at a time, then wait for refills.
      for (let round = 0; round < 200 && allowed < 60; round++) {
        for (let i = 0; i < 10; i++) {
          if (a.allow("acme", "api")) allowed++;
          if (b.allow("acme", "api")) allowed++;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(allowed).toBe(50);
      expect(a.allow("acme", "api") || b.allow("acme", "api")).toBe(false);
      await a.flush();
      await b.flush();
      expect(a.usage("acme", "api").used + b.usage("acme", "api").used).toBeGreaterThanOrEqual(50);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("R16 a close while calls for 2,000 leases are out or queued reports every unit and leaves nothing outstanding", async () => {
    const prefix = prefixed();
    // 2,000 leases are 8 renewal batches; a TTL of 400 ms renews every 200 ms (ticks of 50 ms).
    const l = await openWide(prefix, { minSlice: 10, horizonMs: 1_000, ttlMs: 400 });
    const customers = Array.from({ length: 2_000 }, (_, i) => `c${i}`);
    let allowed = 0;
    for (const c of customers) l.check(c, "api");
    while ((l.status().counters?.pendingAcquires ?? 0) > 0) await new Promise((r) => setTimeout(r, 5));
    for (let round = 0; round < 3; round++) for (const c of customers) if (l.allow(c, "api")) allowed++;
    expect(allowed).toBe(6_000);
    // Close as soon as the next call goes out (a refill or a renewal round of 8 batches, sent 2 at a time).
    const calls = l.status().counters?.calls ?? 0;
    while ((l.status().counters?.calls ?? 0) === calls) await new Promise((r) => setImmediate(r));
    await l.close();
    let consumed = 0;
    let outstanding = 0;
    let pools = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*:pool`, "COUNT", 1000);
      cursor = next;
      for (const k of keys) {
        const [c, o] = await redis.hmget(k, "consumed", "outstanding");
        consumed += Number(c ?? 0);
        outstanding += Number(o ?? 0);
        pools++;
      }
    } while (cursor !== "0");
    expect(pools).toBe(2_000);
    expect(consumed).toBe(6_000);
    expect(outstanding).toBe(0);
  });

  it("R16 background refills of many leases share calls; a call the lease cannot cover sends its refill at once", async () => {
    const prefix = prefixed();
    // Slices of 10 units: a lease refills in the background once 5 are spent.
    const l = await openWide(prefix, { minSlice: 10, maxSlice: 10, horizonMs: 1_000, ttlMs: 30_000 });
    const turn = () => new Promise((r) => setImmediate(r));
    const calls = () => l.status().counters?.calls ?? 0;
    try {
      const customers = Array.from({ length: 500 }, (_, i) => `c${i}`);
      for (const c of customers) l.check(c, "api");
      while ((l.status().counters?.pendingAcquires ?? 0) > 0) await new Promise((r) => setTimeout(r, 5));
      // Ten groups reach their low-water mark in ten turns of the event loop: the refills share calls.
      const before = calls();
      for (let g = 0; g < 10; g++) {
        for (const c of customers.slice(g * 50, (g + 1) * 50))
          for (let i = 0; i < 5; i++) expect(l.allow(c, "api")).toBe(true);
        await turn();
      }
      await l.flush();
      expect(calls() - before).toBeLessThan(10);
      expect(l.status().counters).toMatchObject({ pendingAcquires: 0, leases: 500 });
      // Spend one lease to its last unit: its refill is gathering when the next call finds nothing left.
      let spent = 0;
      while (l.allow("c0", "api")) spent++;
      expect(spent).toBeGreaterThan(0);
      expect(l.decide("c0", "api").reason).toBe("lease_pending");
      const denied = calls();
      await turn();
      expect(calls()).toBe(denied + 1);
      expect(await l.allowAsync("c0", "api")).toBe(true);
    } finally {
      await l.close();
    }
  });

  it("R16 a counter's shared total gets its expiry (period end + 1 h) with its first push, not with every push", async () => {
    const prefix = prefixed();
    const l = await Limitr.open({
      policy,
      store: "memory",
      alerts: false,
      counters: REDIS_URL,
      countersPrefix: prefix,
    });
    try {
      expect(l.allow("acme", "seen", 2)).toBe(true);
      await l.flush();
      const [key] = (await redis.keys(`${prefix}total:*`)) as [string];
      expect(await redis.hget(key, "used")).toBe("2");
      const end = l.usage("acme", "seen").resetsAt as number;
      expect(await redis.pexpiretime(key)).toBe(end + 3_600_000);
      // Moved by hand: a later push adds to the total and leaves the expiry as it is.
      const moved = Date.now() + 7_200_000;
      await redis.pexpireat(key, moved);
      expect(l.allow("acme", "seen", 3)).toBe(true);
      await l.flush();
      expect(await redis.hget(key, "used")).toBe("5");
      expect(await redis.pexpiretime(key)).toBe(moved);
    } finally {
      await l.close();
    }
  });

  it("R16 shared totals stay exact across whole and fractional deltas and whole numbers up to 2^53", async () => {
    const prefix = prefixed();
    const [a, b] = [await openShared(prefix), await openShared(prefix)];
    const totalOf = async (customer: string) => {
      const keys = await redis.keys(`${prefix}total:{${customer}|seen@*`);
      expect(keys).toHaveLength(1);
      return redis.hget(keys[0] as string, "used");
    };
    try {
      const steps: [number, string][] = [
        [2, "2"],
        [0.5, "2.5"],
        [3, "5.5"],
        [0.5, "6"],
        [4, "10"],
      ];
      for (const [amount, total] of steps) {
        expect(a.allow("acme", "seen", amount)).toBe(true);
        await a.flush();
        expect(await totalOf("acme")).toBe(total);
      }
      const big = 2 ** 52;
      expect(a.allow("whale", "seen", big)).toBe(true);
      await a.flush();
      expect(b.allow("whale", "seen", 1)).toBe(true);
      await b.flush();
      await a.flush();
      expect(await totalOf("whale")).toBe(String(big + 1));
      expect(a.usage("whale", "seen").used).toBe(big + 1);
      expect(b.usage("whale", "seen").used).toBe(big + 1);
      // b learns of a counter by looking at it; its next sync pulls the total.
      expect(b.usage("acme", "seen").used).toBe(0);
      await b.flush();
      expect(b.usage("acme", "seen").used).toBe(10);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("R16 countersSyncMs: an engine syncs its totals that often (flush at once); a bad value is a clear input error", async () => {
    const prefix = prefixed();
    // A tick every 100 ms.
    const open = (countersSyncMs?: number) =>
      openShared(prefix, {
        lease: { ttlMs: 800 },
        ...(countersSyncMs === undefined ? {} : { countersSyncMs }),
      });
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY])
      await expect(open(bad)).rejects.toThrow(/countersSyncMs must be a number of milliseconds > 0/);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const [slow, quick] = [await open(60_000), await open()];
    try {
      // Both look at the counter and sync once (the first tick), then count.
      expect(slow.usage("acme", "seen").used + quick.usage("acme", "seen").used).toBe(0);
      await sleep(400);
      expect(slow.allow("acme", "seen", 3)).toBe(true);
      expect(quick.allow("acme", "seen", 4)).toBe(true);
      // Six ticks: the quick engine pushed its 4 and read the total, the slow one did neither.
      await sleep(600);
      expect(quick.usage("acme", "seen").used).toBe(4);
      expect(slow.usage("acme", "seen").used).toBe(3);
      await slow.flush();
      expect(slow.usage("acme", "seen").used).toBe(7);
      // The quick engine reads the total back with its next push.
      expect(quick.allow("acme", "seen", 1)).toBe(true);
      await sleep(300);
      expect(quick.usage("acme", "seen").used).toBe(8);
    } finally {
      await slow.close();
      await quick.close();
    }
  });

  it("R16 an engine reopened on its SQLite file does not add its restored usage to the shared total again", async () => {
    const prefix = prefixed();
    const dir = mkdtempSync(join(tmpdir(), "limitr-shared-"));
    const open = () =>
      Limitr.open({
        policy,
        store: `sqlite:${join(dir, "usage.db")}`,
        counters: REDIS_URL,
        countersPrefix: prefix,
      });
    try {
      const first = await open();
      expect(first.allow("acme", "seen", 5)).toBe(true);
      await first.close();
      const again = await open();
      expect(again.usage("acme", "seen").used).toBe(5);
      expect(again.allow("acme", "seen", 2)).toBe(true);
      await again.flush();
      expect(again.usage("acme", "seen").used).toBe(7);
      await again.close();
      const keys = await redis.keys(`${prefix}total:{acme|seen@*`);
      expect(keys).toHaveLength(1);
      expect(Number(await redis.hget(keys[0]!, "used"))).toBe(7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("R16 with Redis unreachable the engine opens, denies hard limits with lease_pending, and reports it", async () => {
    const limitr = await Limitr.open({
      policy,
      store: "memory",
      counters: "redis://127.0.0.1:1/0",
      countersPrefix: prefixed(),
      lease: { ...LEASE_DEFAULTS, ttlMs: 800 },
    });
    try {
      expect(limitr.decide("acme", "api", 1)).toMatchObject({ allowed: false, reason: "lease_pending" });
      expect(await limitr.allowAsync("acme", "api", 1)).toBe(false);
      // Soft limits do not wait on leases.
      expect(limitr.allow("acme", "seen", 1)).toBe(true);
      const status = limitr.status();
      expect(status.counters).toMatchObject({ url: "redis://127.0.0.1:1/0", reachable: false, leases: 0 });
      expect(status.counters?.lastError).toMatch(/counters redis:\/\/127\.0\.0\.1:1\/0/);
      expect(status.lastError).toBe(status.counters?.lastError);
    } finally {
      await limitr.close();
    }
  });

  it("R16 a bad counters URL is a clear input error", async () => {
    await expect(Limitr.open({ policy, store: "memory", counters: "postgres://x" })).rejects.toThrow(
      /counters must be a redis:\/\/ URL/,
    );
  });
});
