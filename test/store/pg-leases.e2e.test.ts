import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { PgLeases } from "../../src/engine/adapters/store/postgres/pg-leases.js";
import { parseLocation } from "../../src/engine/adapters/store/postgres/url.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { type LeaseParams, ROW_LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * R16 across OS processes on Postgres alone: engines that share a store
 * without Redis counters lease every hard limit from the store's rows
 * (lease_pools / lease_holders). Each test has its own schema.
 */
const WORKER = new URL("./pg-lease-worker.mjs", import.meta.url).pathname;
const schemas: { drop: () => Promise<void> }[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of schemas) await s.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fresh(): { name: string; url: string } {
  const s = pgSchema("limitr_pglease");
  schemas.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface HammerResult {
  allowed: Record<string, number>;
  reasons: Record<string, number>;
  counters: { reachable: boolean; lastError: string | null; calls: number };
}

interface Job {
  pg: string;
  limit: number;
  customers: string[];
  mode: "hammer" | "hold";
  async?: boolean;
  ms?: number;
  hold?: number;
  lease?: Partial<LeaseParams>;
}

function worker(job: Job & { dir?: string }): ResultPromise {
  return execa(process.execPath, [WORKER, JSON.stringify(job)], { reject: false });
}

/** Start `n` hammering engines together; resolves to their results. */
async function hammer(n: number, job: Job, during?: () => Promise<void>): Promise<HammerResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "limitr-pglease-"));
  dirs.push(dir);
  const children = Array.from({ length: n }, () => worker({ ...job, dir }));
  while (readdirSync(dir).length < n) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`an engine process ended early: ${(await dead).stderr}`);
    await sleep(20);
  }
  writeFileSync(join(dir, "go"), "");
  await during?.();
  const runs = await Promise.all(children);
  return runs.map((r) => {
    if (r.exitCode !== 0)
      throw new Error(`engine process failed (${r.exitCode} ${r.signal}): ${r.stderr} ${r.stdout}`);
    return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string) as HammerResult;
  });
}

function monthStart(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextMonth(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** The lease pool of a customer's `api` limit this month, as stored. */
async function pool(url: string, customer: string) {
  const leases = new PgLeases(parseLocation(url), ROW_LEASE_DEFAULTS);
  try {
    return await leases.totals({
      counter: `${customer}|api`,
      periodStart: monthStart(),
      periodEnd: nextMonth(),
    });
  } finally {
    await leases.close();
  }
}

/** The shared total of a customer's soft `seen` counter this month (every engine's share). */
async function seen(schema: string, customer: string): Promise<number> {
  const rows = await pgQuery<{ used: number | null }>(
    "SELECT sum(used)::float8 AS used FROM counter_shares WHERE counter = $1 AND period_start = $2",
    [`${customer}|seen`, monthStart()],
    schema,
  );
  return rows[0]?.used ?? 0;
}

function total(runs: HammerResult[], customer: string): number {
  return runs.reduce((s, r) => s + (r.allowed[customer] ?? 0), 0);
}

const customers = ["acme", "globex", "initech"];

describe("R16 shared hard limits across engine processes on Postgres rows (no Redis)", () => {
  it("R16 three processes deciding synchronously never allow past the limit; nothing stays stranded after close; soft totals are exact", async () => {
    const s = fresh();
    const limit = 400;
    const runs = await hammer(3, { pg: s.url, limit, customers, mode: "hammer", ms: 2500 });
    for (const c of customers) {
      const allowed = total(runs, c);
      expect(allowed).toBeLessThanOrEqual(limit);
      expect(allowed).toBeGreaterThan(0);
      // Every allowed unit was reported, and every lease given back on close.
      expect(await pool(s.url, c)).toMatchObject({ consumed: allowed, outstanding: 0, holders: 0 });
      expect(await seen(s.name, c)).toBe(allowed);
    }
    const reasons = runs.map((r) => r.reasons);
    expect(reasons.some((r) => (r.lease_pending ?? 0) > 0)).toBe(true);
    expect(reasons.some((r) => (r.ok ?? 0) > 0)).toBe(true);
    for (const r of runs) expect(r.counters).toMatchObject({ reachable: true, lastError: null });
  }, 60_000);

  it("R16 decideAsync in three processes reaches exactly the limit, to the last unit", async () => {
    const s = fresh();
    const limit = 250;
    const runs = await hammer(3, { pg: s.url, limit, customers, mode: "hammer", async: true });
    for (const c of customers) {
      expect(total(runs, c)).toBe(limit);
      expect(await pool(s.url, c)).toMatchObject({ consumed: limit, outstanding: 0, holders: 0 });
      expect(await seen(s.name, c)).toBe(limit);
    }
    for (const r of runs) expect(r.reasons.lease_pending ?? 0).toBe(0);
  }, 60_000);

  it("R16 a process killed with SIGKILL strands its slice until the lease TTL; then the rest of the limit is usable again", async () => {
    const s = fresh();
    const limit = 200;
    const lease = { ...ROW_LEASE_DEFAULTS, minSlice: 20, ttlMs: 2500 };
    const child = worker({ pg: s.url, limit, customers, mode: "hold", hold: 5, lease });
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
    expect(await pool(s.url, "acme")).toMatchObject({ consumed: 5, outstanding: stranded, holders: 1 });

    const policy = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: { free: { default: true, entitlements: { api: { meter: "calls", limit, mode: "hard" } } } },
    });
    const other = await Limitr.open({ policy, store: s.url, lease, alerts: false });
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
    expect(await pool(s.url, "acme")).toMatchObject({ consumed: limit, outstanding: 0, holders: 0 });
  }, 60_000);

  it("R16 lease connections terminated mid-run (pg_terminate_backend): nothing lost or doubled, the engines go on deciding", async () => {
    const s = fresh();
    const app = `limitr_lkill_${s.name.slice(-12)}`;
    const pg = `${s.url}&application_name=${app}`;
    const limit = 600;
    let killed = 0;
    let stop = false;
    const killer = async () => {
      await sleep(100);
      const until = Date.now() + 1500;
      while (!stop && Date.now() < until) {
        const r = await pgQuery(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [app],
        );
        killed += r.length;
        await sleep(40);
      }
    };
    let kills: Promise<void> | undefined;
    const runs = await hammer(2, { pg, limit, customers, mode: "hammer", async: true }, async () => {
      kills = killer();
    });
    stop = true;
    await kills;
    expect(killed).toBeGreaterThan(0);
    for (const c of customers) {
      // Exactly the limit: no unit allowed twice (overshoot) and none lost to a report counted twice.
      expect(total(runs, c)).toBe(limit);
      expect(await pool(s.url, c)).toMatchObject({ consumed: limit, outstanding: 0, holders: 0 });
      expect(await seen(s.name, c)).toBe(limit);
    }
  }, 90_000);
});
