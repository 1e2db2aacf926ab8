import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { InputError } from "../../src/engine/core/errors.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { connect, dropPrefix, REDIS_URL, testPrefix } from "../redis/redis-helpers.js";

const policy = (period: unknown, limit = 100) =>
  compilePolicy({
    limitr: 1,
    timezone: "UTC",
    meters: { calls: { event: "api.request", aggregation: "count" } },
    plans: {
      free: { default: true, entitlements: { api: { meter: "calls", limit, mode: "hard", period } } },
    },
  });

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

/** Two engines on one Redis prefix, on one injected clock. */
async function pair(limit: number, lease?: { minSlice: number }) {
  const prefix = testPrefix();
  prefixes.push(prefix);
  const clock = { t: 0 };
  const open = () =>
    Limitr.open({
      policy: policy({ sliding: "PT1M" }, limit),
      store: "memory",
      counters: REDIS_URL,
      countersPrefix: prefix,
      lease,
      alerts: false,
      now: () => clock.t,
    });
  return { clock, a: await open(), b: await open(), prefix };
}

/**
 * decideAsync one unit at a time on each engine in turn until a whole round
 * is refused: the units the window still has, whichever engine holds them.
 */
async function drain(...engines: Limitr[]): Promise<number> {
  let allowed = 0;
  for (;;) {
    let round = 0;
    for (const e of engines) if ((await e.decideAsync("acme", "api", 1)).allowed) round++;
    if (round === 0) return allowed;
    allowed += round;
  }
}

describe("sliding windows and counters shared through Redis", () => {
  it("two engines share a hard limit on a sliding window: exact to the last unit, freed when its bucket leaves the window", async () => {
    const { clock, a, b } = await pair(10);
    // PT1M: buckets of one second; a call in bucket k counts buckets k - 60 .. k.
    const k0 = Math.floor(Date.now() / 1000) + 1;
    clock.t = k0 * 1000 + 100;
    expect(await drain(a, b)).toBe(10);
    expect((await b.decideAsync("acme", "api", 1)).reason).toBe("limit_exceeded");
    expect(a.status().counters).toMatchObject({ reachable: true });

    // 30 s and 60 s later bucket k0 is still in the window (one bucket early at most, never late).
    clock.t = (k0 + 30) * 1000;
    expect(await drain(a, b)).toBe(0);
    clock.t = (k0 + 60) * 1000 + 999;
    expect(await drain(b, a)).toBe(0);
    // Bucket k0 has left every window of bucket k0 + 61: the 10 units are granted again.
    clock.t = (k0 + 61) * 1000;
    expect(await drain(b, a)).toBe(10);
    expect(a.usage("acme", "api").used + b.usage("acme", "api").used).toBe(10);
    await a.close();
    await b.close();
  });

  it("status() counts the leases on sliding windows", async () => {
    const { clock, a, b } = await pair(1_000, { minSlice: 20 });
    clock.t = Date.now();
    expect(await a.allowAsync("acme", "api", 1)).toBe(true);
    const status = a.status().counters;
    expect(status?.slidingLeases).toBe(1);
    expect(status?.slidingAllowance).toBeGreaterThan(0);
    expect(status?.leases).toBe(1);
    expect(b.status().counters).toMatchObject({ slidingLeases: 0, slidingAllowance: 0 });
    await a.close();
    await b.close();
  });

  it("usage spread over buckets frees bucket by bucket as the window slides", async () => {
    const { clock, a, b } = await pair(4);
    const k0 = Math.floor(Date.now() / 1000) + 1;
    // One unit in each of four buckets, alternating engines.
    for (let i = 0; i < 4; i++) {
      clock.t = (k0 + i * 10) * 1000 + 5;
      // One unit: the engine asked first takes it, or the other if a slice it holds is all that is left.
      const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
      const got =
        (await first.decideAsync("acme", "api", 1)).allowed ||
        (await second.decideAsync("acme", "api", 1)).allowed;
      expect(got).toBe(true);
    }
    clock.t = (k0 + 50) * 1000;
    expect(await drain(a, b)).toBe(0);
    // Bucket k0 leaves at k0 + 61, k0 + 10 at k0 + 71: one unit each time.
    clock.t = (k0 + 61) * 1000;
    expect(await drain(b, a)).toBe(1);
    clock.t = (k0 + 71) * 1000;
    expect(await drain(a, b)).toBe(1);
    await a.close();
    await b.close();
  });

  it("a soft limit on a sliding window keeps each engine's own window count (no running total across engines)", async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const clock = { t: Date.now() };
    const soft = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: {
        free: {
          default: true,
          entitlements: { api: { meter: "calls", limit: 5, mode: "soft", period: { sliding: "PT1M" } } },
        },
      },
    });
    const open = () =>
      Limitr.open({
        policy: soft,
        store: "memory",
        counters: REDIS_URL,
        countersPrefix: prefix,
        alerts: false,
        now: () => clock.t,
      });
    const a = await open();
    const b = await open();
    for (let i = 0; i < 3; i++) expect(a.allow("acme", "api")).toBe(true);
    for (let i = 0; i < 2; i++) expect(b.allow("acme", "api")).toBe(true);
    await a.flush();
    await b.flush();
    await a.flush();
    expect(a.usage("acme", "api").used).toBe(3);
    expect(b.usage("acme", "api").used).toBe(2);
    // The window still slides on each engine: 61 s later its bucket has left.
    clock.t += 61_000;
    expect(a.usage("acme", "api").used).toBe(0);
    expect(await redis.keys(`${prefix}total:*`)).toEqual([]);
    await a.close();
    await b.close();
  });

  it("a hard limit on a sliding window is refused with counters from a source other than Redis, naming the entitlement", async () => {
    const opened = Limitr.open({
      policy: policy({ sliding: "PT24H" }),
      store: "memory",
      counters: "postgres://127.0.0.1:5432/test",
    });
    await expect(opened).rejects.toBeInstanceOf(InputError);
    await expect(opened).rejects.toThrow(
      /free\.api has a sliding window, which only counters shared through Redis/,
    );
  });

  it("one engine without counters keeps the sliding window", async () => {
    const engine = await Limitr.open({
      policy: policy({ sliding: "PT24H" }),
      store: "memory",
      alerts: false,
    });
    expect(engine.allow("acme", "api", 100)).toBe(true);
    expect(engine.allow("acme", "api", 1)).toBe(false);
    await engine.close();
  });
});
