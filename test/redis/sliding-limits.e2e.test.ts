import { execa } from "execa";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { connect, dropPrefix, REDIS_URL, testPrefix } from "./redis-helpers.js";

/**
 * A hard limit on a sliding window shared by engine processes through Redis:
 * three processes (two deciding synchronously, one with decideAsync) hammer
 * one customer's "at most N in any minute" on a clock running 60 times faster
 * than the wall clock, over four windows. Every allowed call's instant is
 * checked against every window of the stated length.
 */
const WORKER = new URL("./sliding-engine-worker.mjs", import.meta.url).pathname;
const W = 60_000;
const SPEED = 60;
const RUN_MS = 4_500;

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

interface Run {
  allowed: number[];
  reasons: Record<string, number>;
  status: { slidingLeases: number; reachable: boolean } | null;
}

/** The most allowed in any window (t - W, t]: the largest is one ending at an allowed call. */
function worstWindow(instants: number[]): { count: number; end: number } {
  const t = [...instants].sort((a, b) => a - b);
  let worst = { count: 0, end: 0 };
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while ((t[lo] as number) <= (t[hi] as number) - W) lo++;
    if (hi - lo + 1 > worst.count) worst = { count: hi - lo + 1, end: t[hi] as number };
  }
  return worst;
}

describe("sliding-window hard limits across engine processes (Redis quota leases)", () => {
  it("three processes never allow more than the limit in any window, and the allowance comes back as the window slides", async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const limit = 60;
    // The simulated clock starts on a bucket boundary (buckets of one second for PT1M).
    const t0 = Math.ceil(Date.now() / 1000) * 1000;
    const job = {
      url: REDIS_URL,
      prefix,
      limit,
      window: "PT1M",
      t0,
      speed: SPEED,
      ms: RUN_MS,
      customer: "acme",
    };
    const children = [false, false, true].map((async) =>
      execa(process.execPath, [WORKER, JSON.stringify({ ...job, async })], { reject: false }),
    );
    while (Number((await redis.get(`${prefix}ready`)) ?? 0) < children.length) {
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`an engine process ended early: ${(await dead).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await redis.set(`${prefix}go`, String(Date.now() + 200));
    const runs: Run[] = (await Promise.all(children)).map((r) => {
      if (r.exitCode !== 0) throw new Error(`engine process failed: ${r.stderr}`);
      return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string) as Run;
    });

    const all = runs.flatMap((r) => r.allowed);
    const summary = JSON.stringify(runs.map((r) => ({ allowed: r.allowed.length, reasons: r.reasons })));
    // Zero overshoot: no window of one minute holds more than the limit.
    const worst = worstWindow(all);
    expect(worst.count, summary).toBeLessThanOrEqual(limit);
    // The window filled (to the last units when the machine is not starved: a bucket is
    // 17 ms of wall clock here), and slid: allowance came back in every minute of the run.
    expect(worst.count, summary).toBeGreaterThanOrEqual(limit / 2);
    const minutes = Math.floor((RUN_MS * SPEED) / W);
    expect(minutes).toBeGreaterThanOrEqual(4);
    for (let m = 0; m < minutes; m++) {
      const inMinute = all.filter((t) => t >= t0 + m * W && t < t0 + (m + 1) * W).length;
      expect(inMinute, `minute ${m}: ${summary}`).toBeGreaterThan(0);
    }
    expect(all.length, summary).toBeGreaterThan(2 * limit);
    // Every process decided from sliding leases, and more than one of them was allowed calls.
    for (const r of runs) expect(r.status).toMatchObject({ reachable: true });
    expect(runs.filter((r) => r.allowed.length > 0).length).toBeGreaterThan(1);
    // After close every lease is given back: nothing outstanding in the newest window.
    const leases = new RedisLeases(redis, { prefix: `${prefix}lease:` });
    const hi = Number(
      await redis.hget(
        leases.keys({
          counter: "acme|api",
          periodStart: 0,
          periodEnd: null,
          window: { windowMs: W, bucketMs: 1000, buckets: 60 },
        })[0],
        "hi",
      ),
    );
    const totals = await leases.totals({
      counter: "acme|api",
      periodStart: hi * 1000,
      periodEnd: (hi + 1) * 1000,
      window: { windowMs: W, bucketMs: 1000, buckets: 60 },
    });
    expect(totals).toMatchObject({ outstanding: 0, holders: 0 });
    expect(totals.consumed).toBeLessThanOrEqual(limit);
  }, 30_000);
});
