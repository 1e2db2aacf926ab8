import { execa, type ResultPromise } from "execa";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { LEASE_DEFAULTS, type LeaseParams } from "../../src/engine/core/engine/lease.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { connect, dropPrefix, REDIS_URL, testPrefix } from "./redis-helpers.js";

/**
 * R16 across OS processes: engines opened with `counters` on one Redis share
 * every hard limit through quota leases. Each test has its own key prefix.
 */
const WORKER = new URL("./shared-engine-worker.mjs", import.meta.url).pathname;

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

interface HammerResult {
  allowed: Record<string, number>;
  reasons: Record<string, number>;
  status: { reachable: boolean; lastError: string | null; calls: number };
}

interface Job {
  prefix: string;
  limit: number;
  customers: string[];
  mode: "hammer" | "hold";
  async?: boolean;
  ms?: number;
  hold?: number;
  lease?: Partial<LeaseParams>;
}

function prefixed(): string {
  const p = testPrefix();
  prefixes.push(p);
  return p;
}

function worker(job: Job): ResultPromise {
  return execa(process.execPath, [WORKER, JSON.stringify({ url: REDIS_URL, ...job })], { reject: false });
}

/** Start `n` hammering engines together; resolves to their results. */
async function hammer(n: number, job: Job, during?: () => Promise<void>): Promise<HammerResult[]> {
  const children = Array.from({ length: n }, () => worker(job));
  while (Number((await redis.get(`${job.prefix}ready`)) ?? 0) < n) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`an engine process ended early: ${(await dead).stderr}`);
    await sleep(20);
  }
  await redis.set(`${job.prefix}go`, "1");
  await during?.();
  const runs = await Promise.all(children);
  return runs.map((r) => {
    if (r.exitCode !== 0) throw new Error(`engine process failed: ${r.stderr}`);
    return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string) as HammerResult;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function monthStart(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextMonth(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** The Redis pool of a customer's `api` limit this month. */
async function pool(prefix: string, customer: string) {
  const leases = new RedisLeases(redis, { prefix: `${prefix}lease:` });
  return leases.totals({ counter: `${customer}|api`, periodStart: monthStart(), periodEnd: nextMonth() });
}

function total(runs: HammerResult[], customer: string): number {
  return runs.reduce((s, r) => s + (r.allowed[customer] ?? 0), 0);
}

const customers = ["acme", "globex", "initech", "umbrella"];

describe("R16 shared hard limits across engine processes (Redis quota leases)", () => {
  it("R16 three processes deciding synchronously never allow past the limit; nothing stays stranded after close; soft totals are exact", async () => {
    const prefix = prefixed();
    const limit = 400;
    const runs = await hammer(3, { prefix, limit, customers, mode: "hammer", ms: 2500 });
    for (const c of customers) {
      const allowed = total(runs, c);
      expect(allowed).toBeLessThanOrEqual(limit);
      // Every allowed unit was reported, and every lease given back on close.
      expect(await pool(prefix, c)).toMatchObject({ consumed: allowed, outstanding: 0, holders: 0 });
      // The soft entitlement counted on every allowed call: its shared total is the sum over engines.
      const key = `${prefix}total:{${c}|seen@${monthStart()}}`;
      expect(Number(await redis.hget(key, "used"))).toBe(allowed);
    }
    const reasons = runs.map((r) => r.reasons);
    expect(reasons.some((r) => (r.lease_pending ?? 0) > 0)).toBe(true);
    expect(reasons.some((r) => (r.ok ?? 0) > 0)).toBe(true);
    expect(runs.reduce((s, r) => s + total([r], "acme"), 0)).toBeGreaterThan(0);
  });

  it("R16 decideAsync in three processes reaches exactly the limit, to the last unit", async () => {
    const prefix = prefixed();
    const limit = 250;
    const runs = await hammer(3, { prefix, limit, customers, mode: "hammer", async: true });
    for (const c of customers) {
      expect(total(runs, c)).toBe(limit);
      expect(await pool(prefix, c)).toMatchObject({ consumed: limit, outstanding: 0, holders: 0 });
    }
    for (const r of runs) expect(r.reasons.lease_pending ?? 0).toBe(0);
  });

  it("R16 a process killed with SIGKILL strands its slice until the lease TTL; then the rest of the limit is usable again", async () => {
    const prefix = prefixed();
    const limit = 200;
    const lease = { ...LEASE_DEFAULTS, minSlice: 20, ttlMs: 2500 };
    const child = worker({ prefix, limit, customers, mode: "hold", hold: 5, lease });
    const ready = await new Promise<{ allowed: number; counters: { allowance: number } }>(
      (resolve, reject) => {
        child.stdout?.on("data", (d: Buffer) => resolve(JSON.parse(String(d))));
        void child.then((r) => reject(new Error(`holder ended: ${r.stderr}`)));
      },
    );
    child.kill("SIGKILL");
    expect((await child).signal).toBe("SIGKILL");
    expect(ready.allowed).toBe(5);
    const stranded = ready.counters.allowance;
    expect(stranded).toBe(15);
    expect(await pool(prefix, "acme")).toMatchObject({ consumed: 5, outstanding: stranded, holders: 1 });

    const policy = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: { free: { default: true, entitlements: { api: { meter: "calls", limit, mode: "hard" } } } },
    });
    const other = await Limitr.open({
      policy,
      store: "memory",
      counters: REDIS_URL,
      countersPrefix: prefix,
      lease,
    });
    try {
      const drain = async () => {
        let n = 0;
        while (await other.allowAsync("acme", "api", 1)) n++;
        return n;
      };
      const before = await drain();
      // The dead holder's slice is out of reach until its TTL passes: never handed out twice.
      expect(before).toBe(limit - 5 - stranded);
      expect(other.decide("acme", "api", 1).reason).toBe("limit_exceeded");
      await sleep(lease.ttlMs + 200);
      const after = await drain();
      expect(after).toBe(stranded);
      expect(ready.allowed + before + after).toBe(limit);
    } finally {
      await other.close();
    }
    expect(await pool(prefix, "acme")).toMatchObject({ consumed: limit, outstanding: 0, holders: 0 });
  });

  it("R16 Redis connections dropped mid-run (CLIENT KILL): no overshoot, the engines reconnect and go on deciding", async () => {
    const prefix = prefixed();
    // Large enough that the engines are still deciding after the second kill, however fast they run.
    const limit = 3_000_000;
    const killed: number[] = [];
    const kill = async () => {
      const list = (await redis.client("LIST")) as string;
      const ids = list
        .split("\n")
        .filter((line) => line.includes(` name=limitr:${prefix} `))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1])
        .filter((id): id is string => id !== undefined);
      for (const id of ids) await redis.client("KILL", "ID", id);
      killed.push(ids.length);
    };
    const consumed = async () => {
      let sum = 0;
      for (const c of customers) sum += (await pool(prefix, c)).consumed;
      return sum;
    };
    let afterKills = 0;
    const runs = await hammer(3, { prefix, limit, customers, mode: "hammer", ms: 3000 }, async () => {
      await sleep(300);
      await kill();
      await sleep(500);
      await kill();
      afterKills = await consumed();
    });
    expect(killed[0]).toBe(3);
    // Decisions went on after the connections were dropped (reported on the new connections).
    expect(await consumed()).toBeGreaterThan(afterKills);
    for (const c of customers) {
      const allowed = total(runs, c);
      expect(allowed).toBeLessThanOrEqual(limit);
      // A reply lost with its connection may have been applied: the pool can only count more, never less.
      expect((await pool(prefix, c)).consumed).toBeGreaterThanOrEqual(allowed);
    }
    for (const r of runs) {
      expect(r.status.reachable).toBe(true);
      expect(r.status.lastError).toBeNull();
      expect(r.reasons.ok).toBeGreaterThan(0);
    }
  });
});
