import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import {
  bySlot,
  crc16,
  hashedPart,
  hashTag,
  keySlot,
  PartialReplyError,
} from "../../src/engine/adapters/redis/slots.js";
import { CounterTable } from "../../src/engine/core/engine/counter.js";
import { InputError } from "../../src/engine/core/errors.js";
import { SharedTotals } from "../../src/engine/runtime/shared-totals.js";
import { connect, dropPrefix, testPrefix } from "./redis-helpers.js";

/**
 * Redis Cluster: every key one script call touches must hash to one slot.
 * No cluster runs here; the slots are computed as Redis computes them
 * (CRC16 of the hash tag, mod 16384) and the script calls made against the
 * single server are recorded and checked key by key.
 */
let redis: Redis;
const prefixes: string[] = [];
const prefixed = () => {
  const p = testPrefix();
  prefixes.push(p);
  return p;
};
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

/** Owners and entitlements with the characters that could break a hash tag. */
const NAMES = ["acme", "cust-015", "a}b", "{x}", "}", "{", "ünï", "a|b", "@", ""];
const periodStart = Date.UTC(2026, 9, 1);

/** Records the keys of every call of the named script commands on the client. */
function record(client: Redis, commands: string[]): string[][] {
  const calls: string[][] = [];
  const target = client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of commands) {
    const original = target[name] as (...a: unknown[]) => Promise<unknown>;
    target[name] = (...args: unknown[]) => {
      const n = args[0] as number;
      calls.push(args.slice(1, 1 + n) as string[]);
      return original.apply(client, args);
    };
  }
  return calls;
}

describe("Redis Cluster key layout", () => {
  it("slots are Redis's: CRC16/XMODEM of the hash tag, mod 16384", () => {
    expect(crc16(Buffer.from("123456789"))).toBe(0x31c3);
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("bar")).toBe(5061);
    expect(keySlot("{user1000}.following")).toBe(keySlot("{user1000}.followers"));
    // The rules of the cluster specification for braces.
    expect(hashedPart("foo{}{bar}")).toBe("foo{}{bar}");
    expect(hashedPart("foo{{bar}}zap")).toBe("{bar");
    expect(hashedPart("foo{bar}{zap}")).toBe("bar");
  });

  it("a tag never ends early: names with braces get a digest tag", () => {
    expect(hashTag("acme|api@1")).toBe("{acme|api@1}");
    for (const name of NAMES) {
      const tag = hashTag(`${name}@1`);
      expect(hashedPart(`p:${tag}:pool`)).toBe(tag.slice(1, -1));
    }
  });

  it("a pool's three keys share one slot, and its counter's totals key too", () => {
    const prefix = "limitr:";
    const leases = new RedisLeases(redis, { prefix: `${prefix}lease:` });
    for (const owner of NAMES) {
      for (const entitlement of NAMES) {
        const keys = leases.keys({ counter: `${owner}|${entitlement}`, periodStart, periodEnd: null });
        const total = `${prefix}total:${hashTag(`${owner}|${entitlement}@${periodStart}`)}`;
        const slots = new Set([...keys, total].map(keySlot));
        expect(slots.size, `${owner} / ${entitlement}`).toBe(1);
      }
    }
  });

  it("a key prefix with a brace is refused (it would make every key's tag the prefix's)", () => {
    expect(() => new RedisLeases(redis, { prefix: "limitr:{prod}:" })).toThrow(InputError);
  });

  it("bySlot splits a batch into one script call per slot; results come back in order, as one call gives", async () => {
    const pools = Array.from({ length: 40 }, (_, i) => ({ counter: `c${i}`, periodStart, periodEnd: null }));
    const single = new RedisLeases(redis, { prefix: prefixed(), holder: "h" });
    const split = new RedisLeases(redis, { prefix: prefixed(), holder: "h", bySlot: true });
    const calls = record(redis, [
      "limitrLeaseAcquireMany",
      "limitrLeaseReportMany",
      "limitrLeaseReleaseMany",
    ]);
    const requests = pools.map((pool, i) => ({
      pool,
      request: { limit: 100 + i, need: i % 3, rate: i, now: 1_000 },
    }));
    const a = await single.acquireMany(requests);
    const before = calls.length;
    const b = await split.acquireMany(requests);
    expect(b).toEqual(a);
    const report = pools.map((pool) => ({ pool, consumed: 1, giveBack: 0, now: 2_000 }));
    expect(await split.reportMany(report)).toEqual(await single.reportMany(report));
    const release = pools.map((pool) => ({ pool, consumed: 0, now: 3_000 }));
    expect(await split.releaseMany(release)).toEqual(await single.releaseMany(release));
    // The single-server client sent whole batches across slots; the split one, one slot per call.
    const mixed = calls.slice(0, before);
    expect(mixed.some((keys) => new Set(keys.map(keySlot)).size > 1)).toBe(true);
    const splitCalls = calls.filter((keys) => keys[0]?.startsWith(prefixes.at(-1) as string));
    expect(splitCalls.length).toBe(3 * bySlot(pools, (p) => split.keys(p)[0]).length);
    for (const keys of splitCalls) expect(new Set(keys.map(keySlot)).size).toBe(1);
  });

  it("a batch whose call for one slot fails keeps the replies of the calls that succeeded (they were applied)", async () => {
    // The bad pool's key holds a string: its script call fails with WRONGTYPE, on the real server.
    const good = { counter: "good", periodStart, periodEnd: null };
    const bad = { counter: "bad", periodStart, periodEnd: null };
    const window = { windowMs: 60_000, bucketMs: 1000, buckets: 60 };
    const bucket = Math.floor(Date.now() / 1000) * 1000;
    const sliding = { counter: "slide", periodStart: bucket, periodEnd: null, window };
    for (const split of [true, false]) {
      const leases = new RedisLeases(redis, { prefix: prefixed(), holder: "h", bySlot: split });
      expect(keySlot(leases.keys(good)[0])).not.toBe(keySlot(leases.keys(bad)[0]));
      await redis.set(leases.keys(bad)[0], "not a pool");
      const request = { limit: 100, need: 5, rate: 0 };
      const err = await leases.acquireMany([bad, good, sliding].map((pool) => ({ pool, request }))).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PartialReplyError);
      const { replies, cause } = err as PartialReplyError<{ granted: number }>;
      expect(String(cause)).toMatch(/WRONGTYPE/);
      expect(replies[0]).toBeUndefined();
      // The sliding pool is a call of its own either way; the good calendar pool only when split
      // by slot (unsplit, it shares the failed call, which stopped at the bad pool, before it).
      expect(replies[2]?.granted).toBe(5);
      expect((await leases.totals(sliding)).outstanding).toBe(5);
      if (split) {
        expect(replies[1]?.granted).toBe(5);
        expect(await leases.totals(good)).toMatchObject({ outstanding: 5, holders: 1 });
      } else {
        expect(replies[1]).toBeUndefined();
        expect(await leases.totals(good)).toMatchObject({ outstanding: 0, holders: 0 });
      }
      // Every call failing is that call's error, not a partial one.
      const all = await leases.releaseMany([{ pool: bad, consumed: 0 }]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(all).not.toBeInstanceOf(PartialReplyError);
      expect(String(all)).toMatch(/WRONGTYPE/);
    }
  });

  it("shared totals: one script call per slot with bySlot, the same totals as one call", async () => {
    const table = () => {
      const t = new CounterTable();
      for (let i = 0; i < 30; i++) {
        const c = t.add(`k${i}`, `cust-${i}`, "api", { start: periodStart, end: periodStart + 86_400_000 });
        c.used = i + 0.5;
      }
      return t;
    };
    const prefix = prefixed();
    const t1 = table();
    const t2 = table();
    const whole = new SharedTotals(redis, t1, `${prefix}a:`, [], false);
    const slotted = new SharedTotals(redis, t2, `${prefix}b:`, [], true);
    const calls = record(redis, ["limitrTotals"]);
    await whole.sync(false);
    await slotted.sync(false);
    expect(t2.counters.map((c) => c.used)).toEqual(t1.counters.map((c) => c.used));
    const one = calls.filter((keys) => keys[0]?.startsWith(`${prefix}a:`));
    const split = calls.filter((keys) => keys[0]?.startsWith(`${prefix}b:`));
    expect(one).toHaveLength(1);
    expect(split.length).toBeGreaterThan(1);
    for (const keys of split) expect(new Set(keys.map(keySlot)).size).toBe(1);
    const renamed = one.flat().map((k) => k.replace(`${prefix}a:`, `${prefix}b:`));
    expect(split.flat().sort()).toEqual(renamed.sort());
  });
});
