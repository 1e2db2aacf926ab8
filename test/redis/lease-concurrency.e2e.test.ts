import { execa } from "execa";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { LEASE_DEFAULTS, type LeaseParams } from "../../src/engine/core/engine/lease.js";
import { connect, dropPrefix, REDIS_URL, testPrefix, WORKER } from "./redis-helpers.js";

let redis: Redis;
const prefix = testPrefix();
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const params: LeaseParams = { ...LEASE_DEFAULTS, maxSlice: 40, ttlMs: 30_000 };

interface Drained {
  allowed: number;
  acquires: number;
  reports: number;
  returned: number;
}

function drain(counter: string, limit: number, extra: Record<string, unknown>) {
  const job = {
    url: REDIS_URL,
    prefix,
    counter,
    limit,
    params,
    mode: "drain",
    rate: 300,
    reportEvery: 7,
    ...extra,
  };
  return execa("node", [WORKER, JSON.stringify(job)]).then((r) => JSON.parse(r.stdout) as Drained);
}

describe("R16 Redis leases under concurrency (separate processes)", () => {
  it("R16 four processes draining one counter allow exactly the limit, and nothing stays stranded", async () => {
    const limit = 3_001;
    const counter = "drain";
    // One holder leaves early and releases the unconsumed rest of its lease; the others pick it up.
    const workers = [
      drain(counter, limit, {}),
      drain(counter, limit, {}),
      drain(counter, limit, { rate: 5 }),
      drain(counter, limit, { stopAfter: 150 }),
    ];
    while (Number(await redis.get(`${prefix}ready`)) < workers.length)
      await new Promise((r) => setTimeout(r, 10));
    await redis.set(`${prefix}go`, "1");
    const runs = await Promise.all(workers);
    const allowed = runs.reduce((s, r) => s + r.allowed, 0);
    expect(allowed).toBe(limit);
    expect(runs[3]!.allowed).toBe(150);
    // Every process took part (no single holder drained the pool alone).
    for (const r of runs) expect(r.allowed).toBeGreaterThan(0);
    const leases = new RedisLeases(redis, { prefix, params });
    const totals = await leases.totals({ counter, periodStart: 0, periodEnd: null });
    expect(totals).toEqual({ limit, consumed: limit, outstanding: 0, holders: 0 });
  });
});
