import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitrInProcess as cli } from "../cli/run-cli.js";
import { pgQuery } from "../helpers/pg-schema.js";
import { sharedStoreResources } from "../helpers/shared-store.js";
import { REDIS_URL } from "../redis/redis-helpers.js";

/**
 * Many engines on one Postgres store (SPEC §11, R16): hard limits across OS
 * processes, a writer connection killed mid-transaction, an outage that
 * fills the write buffer, plan changes seen by the other instance.
 */
const WORKER = new URL("./pg-engine-worker.mjs", import.meta.url).pathname;
const shared = sharedStoreResources("limitr_pgshared");
const { fresh, prefixed } = shared;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const soft = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: { default: true, entitlements: { api: { meter: "calls", limit: 1000, mode: "soft" } } },
    pro: { entitlements: { api: { meter: "calls", limit: 5000, mode: "soft" } } },
  },
});

interface WorkerResult {
  allowed: Record<string, number>;
  reasons: Record<string, number>;
  store: { reachable: boolean; bufferedEvents: number; writtenEvents: number };
}

describe("R16 engines in separate processes on one Postgres store with Redis counters", () => {
  it("R16 two processes on the same customers' hard limit allow exactly the limit in total; Postgres holds every event once", async () => {
    const s = fresh();
    const prefix = prefixed();
    // Paced at 50 calls per 10 ms or slower, one process alone needs 0.8 s to spend the limits:
    // the other one, started a few scheduling delays later on a loaded machine, still gets a share.
    const limit = 2000;
    const customers = ["acme", "globex"];
    const job = { pg: s.url, redis: REDIS_URL, prefix, limit, customers, ms: 2500, async: true, paceMs: 10 };
    const children = [0, 1].map(() =>
      execa(process.execPath, [WORKER, JSON.stringify(job)], { reject: false }),
    );
    while (Number((await shared.redis.get(`${prefix}ready`)) ?? 0) < 2) {
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`an engine process ended early: ${(await dead).stderr}`);
      await sleep(20);
    }
    await shared.redis.set(`${prefix}go`, "1");
    const runs = (await Promise.all(children)).map((r) => {
      expect(r.exitCode, String(r.stderr)).toBe(0);
      return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string) as WorkerResult;
    });
    for (const c of customers) {
      const total = runs.reduce((n, r) => n + (r.allowed[c] ?? 0), 0);
      expect(total).toBe(limit);
      // Each allowed call wrote two events (api and seen): all there, none twice.
      const rows = await pgQuery<{ n: number; ids: number }>(
        "SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events WHERE customer = $1",
        [c],
        s.name,
      );
      expect(rows[0]).toEqual({ n: 2 * limit, ids: 2 * limit });
    }
    // Both processes decided some of the allowance (on a loaded machine one may start late on one customer).
    const decided = (r: WorkerResult) => customers.reduce((n, c) => n + (r.allowed[c] ?? 0), 0);
    expect(runs.every((r) => decided(r) > 0)).toBe(true);
    for (const r of runs) expect(r.store).toMatchObject({ reachable: true, bufferedEvents: 0 });
  }, 60_000);
});

describe("the background writer", () => {
  it("R13 a writer connection killed mid-transaction (pg_terminate_backend) loses nothing and doubles nothing", async () => {
    const s = fresh();
    const app = `limitr_kill_${s.name.slice(-12)}`;
    const limitr = await Limitr.open({
      policy: soft,
      store: `${s.url}&application_name=${app}`,
      alerts: false,
      batch: { maxEvents: 2000, maxDelayMs: 5 },
    });
    let killed = 0;
    let inFlight = 0;
    let sawError = false;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        const r = await pgQuery<{ state: string | null }>(
          `SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [app],
        );
        killed += r.length;
        inFlight += r.filter((x) => x.state === "active" || x.state === "idle in transaction").length;
        if (limitr.status().storeHealth?.lastError) sawError = true;
        await sleep(3);
      }
    })();
    let n = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      for (let i = 0; i < 500; i++) {
        const customer = `c${n % 7}`;
        expect(limitr.allow(customer, "api", 1, { id: `k${n}` })).toBe(true);
        n++;
      }
      await sleep(1);
    }
    stop = true;
    await killer;
    await limitr.flush();
    const st = limitr.status();
    await limitr.close();
    expect(killed).toBeGreaterThan(0);
    // Some kills landed while the writer was in a transaction; the writer noticed and retried.
    expect(inFlight).toBeGreaterThan(0);
    expect(sawError).toBe(true);
    expect(st.storeHealth).toMatchObject({ reachable: true, bufferedEvents: 0, lastError: null });
    const rows = await pgQuery<{ n: number; ids: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events",
      [],
      s.name,
    );
    expect(rows[0]).toEqual({ n, ids: n });
    const used = await pgQuery<{ used: number }>(
      "SELECT sum(used)::float8 AS used FROM counters",
      [],
      s.name,
    );
    expect(used[0]?.used).toBe(n);
  }, 60_000);

  it("R16 an outage that fills the buffer refuses counted calls (store_backlog), keeps every event, and recovers", async () => {
    const s = fresh();
    const limitr = await Limitr.open({
      policy: soft,
      store: s.url,
      alerts: false,
      maxBufferedEvents: 100,
      drainTimeoutMs: 500,
      batch: { maxEvents: 10, maxDelayMs: 5 },
    });
    expect(limitr.allow("acme", "api")).toBe(true);
    await limitr.flush();
    // The events table goes away: every write fails until it is back.
    await pgQuery("ALTER TABLE events RENAME TO events_away", [], s.name);
    let allowed = 1;
    let backlog = 0;
    for (let i = 0; i < 400; i++) {
      const d = limitr.decide("acme", "api", 1);
      if (d.allowed) allowed++;
      else if (d.reason === "store_backlog") backlog++;
      if (i % 10 === 0) await sleep(2);
    }
    expect(backlog).toBeGreaterThan(0);
    // Bounded: what is held is the buffer's bound plus at most one engine batch.
    expect(allowed - 1).toBeLessThanOrEqual(100 + 10);
    const down = limitr.status();
    expect(down.storeHealth?.reachable).toBe(false);
    expect(down.pendingEvents).toBe(allowed - 1);
    expect(down.lastError).toMatch(/events|buffer/);
    // Work already done is still counted while calls are refused.
    expect(limitr.record({ type: "api.request", customer: "acme", id: "late" }).counted).toHaveLength(1);
    allowed++;
    await expect(limitr.flush()).rejects.toThrow(/still buffered|full/);

    await pgQuery("ALTER TABLE events_away RENAME TO events", [], s.name);
    const t0 = Date.now();
    while (limitr.status().pendingEvents > 0 && Date.now() - t0 < 15_000) await sleep(20);
    await limitr.flush();
    expect(limitr.decide("acme", "api", 1).reason).toBe("ok");
    allowed++;
    await limitr.close();
    const rows = await pgQuery<{ n: number }>("SELECT count(*)::int AS n FROM events", [], s.name);
    expect(rows[0]?.n).toBe(allowed);
  }, 60_000);
});

describe("plan changes across instances", () => {
  it("a plan set on one engine is seen by another within the poll interval; `limitr customers set` too", async () => {
    const s = fresh();
    const a = await Limitr.open({ policy: soft, store: s.url, alerts: false, planPollMs: 100 });
    const b = await Limitr.open({ policy: soft, store: s.url, alerts: false, planPollMs: 100 });
    expect(b.usage("acme", "api").limit).toBe(1000);
    a.setPlan("acme", "pro");
    await a.flush();
    const t0 = Date.now();
    while (b.usage("acme", "api").limit !== 5000 && Date.now() - t0 < 5000) await sleep(10);
    const seenAfter = Date.now() - t0;
    expect(b.usage("acme", "api").limit).toBe(5000);
    // Two poll intervals at most (the store's query, then the engine's look), plus scheduling slack.
    expect(seenAfter).toBeLessThan(2500);
    // A batch command on the same store is another instance too.
    const set = await cli(["--db", s.url, "customers", "set", "globex", "--plan", "pro"]);
    expect(set.exitCode, set.stderr).toBe(0);
    const t1 = Date.now();
    const both = () => a.usage("globex", "api").limit === 5000 && b.usage("globex", "api").limit === 5000;
    while (!both() && Date.now() - t1 < 5000) await sleep(10);
    expect(a.usage("globex", "api").limit).toBe(5000);
    expect(b.usage("globex", "api").limit).toBe(5000);
    await a.close();
    await b.close();
  }, 30_000);
});
