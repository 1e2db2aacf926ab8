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

const params: LeaseParams = { ...LEASE_DEFAULTS, maxSlice: 50, ttlMs: 3_000 };

describe("R16 a holder killed mid-lease", () => {
  it("R16 SIGKILL strands its allowance until the TTL; the next acquire reclaims all it never reported", async () => {
    const limit = 1_000;
    const counter = "killed";
    const pool = { counter, periodStart: 0, periodEnd: null };
    const job = { url: REDIS_URL, prefix, counter, limit, params, mode: "hold", rate: 1_000, reported: 5 };
    const child = execa("node", [WORKER, JSON.stringify(job)], { reject: false });
    const ready = await new Promise<{ granted: number; reported: number; allowanceAtReport: number }>(
      (resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => resolve(JSON.parse(String(d))));
        child.catch(reject);
      },
    );
    child.kill("SIGKILL");
    const killed = await child;
    expect(killed.signal).toBe("SIGKILL");
    expect(ready.granted).toBe(params.maxSlice);

    const other = new RedisLeases(redis, { prefix, params, holder: "survivor" });
    // Within the TTL the dead holder's lease still counts: its allowance is not handed out twice.
    const during = await other.acquire(pool, { limit, need: 1, rate: 0 });
    expect(during.holders).toBe(2);
    expect(during.remainder + during.allowance).toBe(limit - ready.reported - ready.allowanceAtReport);

    await new Promise((r) => setTimeout(r, params.ttlMs + 100));
    const after = await other.acquire(pool, { limit, need: 0, rate: 0 });
    // Reclaimed: everything it was granted and did not report is back in the pool.
    expect(after.holders).toBe(1);
    expect(after.remainder + after.allowance).toBe(limit - ready.reported);
    expect(await other.totals(pool)).toEqual({
      limit,
      consumed: ready.reported,
      outstanding: after.allowance,
      holders: 1,
    });
    // Exactly the dead holder's allowance at its last report came back. What it allowed after that
    // report is unknowable to the pool, and no more than this: the bound on overshoot after a kill -9.
    const reclaimed = after.remainder + after.allowance - (during.remainder + during.allowance);
    expect(reclaimed).toBe(ready.granted - ready.reported);
    const released = await other.release(pool, 0);
    expect(released.returned).toBe(after.allowance);
    expect(await other.totals(pool)).toMatchObject({ outstanding: 0, holders: 0 });
  });
});
