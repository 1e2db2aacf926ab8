import { execa, type ResultPromise } from "execa";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { hashTag, keySlot, PartialReplyError } from "../../src/engine/adapters/redis/slots.js";
import { clusterUnavailable, type RedisClusterHandle, startRedisCluster } from "./redis-cluster.js";
import { testPrefix } from "./redis-helpers.js";

/**
 * R16 on a real Redis Cluster: three masters with a replica each, started by
 * this file (redis-server processes on free ports, `redis-cli --cluster
 * create`). Engines in their own OS processes open `countersCluster: true`
 * and share the hard limits of customers whose pools hash to every master,
 * while slots move and a master fails over under them.
 */
const WORKER = new URL("./cluster-engine-worker.mjs", import.meta.url).pathname;
const unavailable = clusterUnavailable();

interface Run {
  allowed: Record<string, number>;
  last: Record<string, number>;
  reasons: Record<string, number>;
  status: { reachable: boolean; lastError: string | null; calls: number; leases: number };
  errors: string[];
}

interface Job {
  prefix: string;
  customers: string[];
  /** `api` per customer, a calendar month. */
  limit: number;
  /** `burst` per customer, a sliding minute. */
  burst: number;
  /** Phase 1: synchronous decisions a second per process, for `ms`. */
  rate: number;
  ms: number;
  lease?: { maxSlice: number };
}

const LIMIT = 600;
const BURST = 200;
const PROCESSES = 3;

function monthStart(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextMonth(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(unavailable !== null)(
  `R16 shared limits on a real Redis Cluster${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    let cluster: RedisClusterHandle;
    let client: Redis;
    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3, replicas: true });
      client = new Cluster([{ host: "127.0.0.1", port: cluster.ports[0] as number }]) as unknown as Redis;
    }, 30_000);
    afterAll(async () => {
      client?.disconnect();
      await cluster?.stop();
    });

    const leases = (prefix: string) => new RedisLeases(client, { prefix: `${prefix}lease:` });
    const apiPool = (customer: string) => ({
      counter: `${customer}|api`,
      periodStart: monthStart(),
      periodEnd: nextMonth(),
    });
    const burstKey = (prefix: string, customer: string) =>
      leases(prefix).keys({
        counter: `${customer}|burst`,
        periodStart: 0,
        periodEnd: null,
        window: { windowMs: 60_000, bucketMs: 1000, buckets: 60 },
      });

    /** A customer's keys: its `api` pool first, then its `burst` pool and its `seen` and `watched` totals. */
    const keysOf = (prefix: string, c: string) => [
      leases(prefix).keys(apiPool(c))[0],
      burstKey(prefix, c)[0],
      ...["seen", "watched"].map((e) => `${prefix}total:${hashTag(`${c}|${e}@${monthStart()}`)}`),
    ];

    /**
     * `perMaster` customers whose `api` pool hashes to each master, by master port
     * (with `whole`, customers whose every key does: a customer's counters have a tag each).
     */
    async function customersByMaster(
      prefix: string,
      perMaster: number,
      whole = false,
    ): Promise<Map<number, string[]>> {
      const masters = await cluster.masters();
      const ownerOf = (key: string) => {
        const slot = keySlot(key);
        return masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))?.port as number;
      };
      const out = new Map<number, string[]>(masters.map((m) => [m.port, []]));
      for (let i = 0; [...out.values()].some((l) => l.length < perMaster); i++) {
        const name = `cust-${i}`;
        const owners = new Set(
          keysOf(prefix, name)
            .slice(0, whole ? undefined : 1)
            .map(ownerOf),
        );
        const list = out.get(ownerOf(keysOf(prefix, name)[0] as string)) as string[];
        if (owners.size === 1 && list.length < perMaster) list.push(name);
      }
      return out;
    }

    /** Starts the engines, lets them go together, runs `during` meanwhile; resolves to their results. */
    async function engines(job: Job, during?: () => Promise<void>): Promise<Run[]> {
      const children: ResultPromise[] = [];
      for (let i = 0; i < PROCESSES; i++)
        children.push(
          execa(process.execPath, [WORKER, JSON.stringify({ url: cluster.url, ...job })], {
            reject: false,
            stdin: "pipe",
          }),
        );
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve, reject) => {
              child.stdout?.once("data", () => resolve());
              void child.then((r) => reject(new Error(`an engine process ended early: ${r.stderr}`)));
            }),
        ),
      );
      for (const child of children) child.stdin?.write("go\n");
      await during?.();
      return (await Promise.all(children)).map((r) => {
        if (r.exitCode !== 0) throw new Error(`engine process failed: ${r.stderr}`);
        return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string) as Run;
      });
    }

    /** Every limit reached exactly across the engines, every lease given back, the soft and observe totals exact. */
    async function expectExact(prefix: string, customers: string[], runs: Run[]): Promise<void> {
      const summary = JSON.stringify(runs.map((r) => ({ reasons: r.reasons, errors: r.errors })));
      const sum = (key: string) => runs.reduce((s, r) => s + (r.allowed[key] ?? 0), 0);
      for (const c of customers) {
        expect(sum(`${c}/api`), `${c} api: ${summary}`).toBe(LIMIT);
        expect(sum(`${c}/burst`), `${c} burst: ${summary}`).toBe(BURST);
        // Every allowed unit was reported, every lease given back on close.
        expect(await leases(prefix).totals(apiPool(c))).toMatchObject({
          limit: LIMIT,
          consumed: LIMIT,
          outstanding: 0,
          holders: 0,
        });
        const [poolKey, , expKey] = burstKey(prefix, c);
        const fields = await client.hgetall(poolKey);
        const of = (kind: string) =>
          Object.entries(fields)
            .filter(([f]) => f[0] === kind && /^-?\d+$/.test(f.slice(1)))
            .reduce((s, [, v]) => s + Number(v), 0);
        expect({ consumed: of("c"), outstanding: of("o"), holders: await client.zcard(expKey) }).toEqual({
          consumed: BURST,
          outstanding: 0,
          holders: 0,
        });
        // The soft and observe counts of every engine add up in the shared totals.
        for (const e of ["seen", "watched"]) {
          const key = `${prefix}total:${hashTag(`${c}|${e}@${monthStart()}`)}`;
          expect(Number(await client.hget(key, "used")), `${c} ${e}`).toBe(LIMIT);
        }
      }
      for (const r of runs) {
        expect(r.status.reachable, summary).toBe(true);
        expect(r.status.lastError, summary).toBeNull();
        expect(r.reasons.ok ?? 0).toBeGreaterThan(0);
      }
      // More than one engine held allowance in the limits (they were shared, not run one after another).
      expect(runs.filter((r) => (r.reasons.ok ?? 0) > LIMIT).length).toBeGreaterThan(1);
    }

    /** The master port holding `key` now, asked of the nodes themselves (no redirection followed). */
    async function holderOf(key: string): Promise<number> {
      const found: number[] = [];
      for (const m of await cluster.masters()) {
        const keys = (await cluster.node(m.port).cluster("GETKEYSINSLOT", keySlot(key), 1000)) as string[];
        if (keys.includes(key)) found.push(m.port);
      }
      expect(found, key).toHaveLength(1);
      return found[0] as number;
    }

    it("a batch over pools on every master is one pipeline per master; a call that fails fails alone, a redirected one is sent again alone", async () => {
      const prefix = testPrefix();
      const l = new RedisLeases(client, { prefix: `${prefix}lease:`, holder: "h" });
      await client.ping(); // connected: the client knows the slot map
      const pools = Array.from({ length: 60 }, (_, i) => apiPool(`cust-${i}`));
      const slots = new Set(pools.map((p) => keySlot(l.keys(p)[0])));
      const masters = await cluster.masters();
      const owner = (slot: number) =>
        masters.findIndex((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
      expect(new Set([...slots].map(owner)).size).toBe(3);
      expect(slots.size).toBeGreaterThan(40);
      // Every master's slots in one round trip: three, where one per slot took `slots.size`.
      const granted = await l.acquireMany(
        pools.map((pool) => ({ pool, request: { limit: 1000, need: 1, rate: 1 } })),
      );
      expect(l.calls).toBe(3);
      for (const [i, pool] of pools.entries()) {
        expect(granted[i]?.granted).toBeGreaterThan(0);
        expect((await l.totals(pool)).outstanding).toBe(granted[i]?.granted);
      }
      // One pool's key of the wrong type: its slot's call fails (WRONGTYPE), the others' replies are kept.
      const broken = pools[7] as (typeof pools)[number];
      const brokenSlot = keySlot(l.keys(broken)[0]);
      await client.del(l.keys(broken)[0]);
      await client.set(l.keys(broken)[0], "x");
      const before = l.calls;
      const err = await l
        .reportMany(pools.map((pool) => ({ pool, consumed: 1, giveBack: 0 })))
        .catch((e) => e);
      expect(err).toBeInstanceOf(PartialReplyError);
      expect(String(err.message)).toMatch(/WRONGTYPE/);
      expect(l.calls - before).toBe(3);
      for (const [i, pool] of pools.entries()) {
        const inBroken = keySlot(l.keys(pool)[0]) === brokenSlot;
        expect(err.replies[i] === undefined, pool.counter).toBe(inBroken);
        if (!inBroken) expect((await l.totals(pool)).consumed).toBe(1);
      }
      // A stale slot map: the client believes one slot is served by another master. Its call,
      // pipelined to that master, is answered MOVED and sent again alone (ioredis follows it).
      const healthy = pools.filter((p) => keySlot(l.keys(p)[0]) !== brokenSlot);
      const moved = keySlot(l.keys(healthy[0] as (typeof healthy)[number])[0]);
      const other = [...slots].find((s) => owner(s) !== owner(moved) && s !== brokenSlot) as number;
      const map = client as unknown as { slots: string[][]; _groupsBySlot: unknown[] };
      map.slots[moved] = map.slots[other] as string[];
      map._groupsBySlot[moved] = map._groupsBySlot[other];
      const movedBefore = (await Promise.all(masters.map((m) => cluster.errors(m.port)))).reduce(
        (n, e) => n + (e.MOVED ?? 0),
        0,
      );
      const calls = l.calls;
      const renewed = await l.reportMany(healthy.map((pool) => ({ pool, consumed: 1, giveBack: 0 })));
      expect(renewed).toHaveLength(healthy.length);
      expect(l.calls - calls).toBe(4);
      const movedAfter = (await Promise.all(masters.map((m) => cluster.errors(m.port)))).reduce(
        (n, e) => n + (e.MOVED ?? 0),
        0,
      );
      expect(movedAfter).toBeGreaterThan(movedBefore);
      for (const pool of healthy) expect((await l.totals(pool)).consumed).toBe(2);
      // A slot map the pipeline refuses as a whole (the slot's node group disagrees with its nodes):
      // every call of that node goes alone, as before pipelines.
      await sleep(300); // the slot map ioredis refreshes after a MOVED
      map._groupsBySlot[moved] = -1;
      const alone = l.calls;
      await l.releaseMany(healthy.map((pool) => ({ pool, consumed: 0 })));
      expect(l.calls - alone).toBeGreaterThan(3);
      for (const pool of healthy) {
        const t = await l.totals(pool);
        expect([t.consumed, t.outstanding, t.holders]).toEqual([2, 0, 0]);
      }
    });

    it("three engine processes share the hard limits of customers on all three masters: exactly the limit, leases back on close, soft and observe totals exact", async () => {
      const prefix = testPrefix();
      const byMaster = await customersByMaster(prefix, 6);
      const customers = [...byMaster.values()].flat();
      const runs = await engines({ prefix, customers, limit: LIMIT, burst: BURST, rate: 1500, ms: 1200 });
      await expectExact(prefix, customers, runs);
      // The pools are where CLUSTER KEYSLOT and the slot map put them: on every master.
      for (const [port, names] of byMaster) {
        for (const c of names) {
          const key = leases(prefix).keys(apiPool(c))[0];
          expect(await cluster.node(port).cluster("KEYSLOT", key)).toBe(keySlot(key));
          expect(await holderOf(key)).toBe(port);
          // The sliding window's pool (its lease keys are gone: every lease was given back).
          await holderOf(burstKey(prefix, c)[0]);
        }
        const [, keys] = await cluster.node(port).scan("0", "MATCH", `${prefix}*`, "COUNT", 10_000);
        expect(keys.length, `keys on master ${port}`).toBeGreaterThan(0);
      }
      expect(byMaster.size).toBe(3);
    });

    it("slots move to another master while the engines hold leases in them (ASK, TRYAGAIN, MOVED): exactly the limit, nothing lost", async () => {
      const prefix = testPrefix();
      const byMaster = await customersByMaster(prefix, 6);
      const customers = [...byMaster.values()].flat();
      const ports = [...byMaster.keys()];
      // Two `api` pools of each master's customers and one sliding `burst` pool: each slot to the next master.
      const keys = [...byMaster.values()].flatMap(([a, b, c]) => [
        leases(prefix).keys(apiPool(a as string))[0],
        leases(prefix).keys(apiPool(b as string))[0],
        burstKey(prefix, c as string)[0],
      ]);
      const moves: { key: string; from: number; to: number }[] = [];
      const before = await Promise.all(ports.map((p) => cluster.errors(p)));
      const runs = await engines(
        { prefix, customers, limit: LIMIT, burst: BURST, rate: 1500, ms: 2000 },
        async () => {
          // The engines hold leases in these pools by now; move their slots under them.
          await sleep(700);
          for (const key of keys) {
            const from = await holderOf(key);
            const to = ports[(ports.indexOf(from) + 1) % ports.length] as number;
            await cluster.moveSlot(keySlot(key), to);
            moves.push({ key, from, to });
          }
        },
      );
      await expectExact(prefix, customers, runs);
      expect(moves).toHaveLength(keys.length);
      for (const m of moves) expect(await holderOf(m.key)).toBe(m.to);
      // The engines were sent on by the old owners: they had the old slot map.
      const after = await Promise.all(ports.map((p) => cluster.errors(p)));
      const redirected = ports.map((_, i) => {
        const was = before[i] as Record<string, number>;
        const now = after[i] as Record<string, number>;
        return (now.MOVED ?? 0) - (was.MOVED ?? 0) + (now.ASK ?? 0) - (was.ASK ?? 0);
      });
      expect(
        redirected.every((n) => n > 0),
        JSON.stringify(after),
      ).toBe(true);
    });

    it("a master fails over to its replica (CLUSTER FAILOVER) while the engines hold leases on it: exactly the limit, nothing lost", async () => {
      const prefix = testPrefix();
      const byMaster = await customersByMaster(prefix, 6);
      const customers = [...byMaster.values()].flat();
      const [master] = [...byMaster.keys()] as [number];
      const before = await cluster.errors(master);
      let promoted = 0;
      const runs = await engines(
        { prefix, customers, limit: LIMIT, burst: BURST, rate: 1500, ms: 2000 },
        async () => {
          await sleep(700);
          promoted = await cluster.failover(master);
        },
      );
      await expectExact(prefix, customers, runs);
      // The pools of that master's customers live on the promoted replica now.
      for (const c of byMaster.get(master) as string[]) {
        expect(await holderOf(leases(prefix).keys(apiPool(c))[0])).toBe(promoted);
      }
      expect(((await cluster.errors(master)).MOVED ?? 0) - (before.MOVED ?? 0)).toBeGreaterThan(0);
    });

    it("a master is killed (SIGKILL) while the engines hold leases on it: the other masters' limits stay exact, its replica takes over and the engines go on", async () => {
      const prefix = testPrefix();
      // Each customer's keys all on one master: the crash touches some customers wholly, the others not at all.
      const byMaster = await customersByMaster(prefix, 6, true);
      const customers = [...byMaster.values()].flat();
      const [master] = [...byMaster.keys()] as [number];
      const onKilled = byMaster.get(master) as string[];
      // Small slices: what a crash can cost (below) is bounded by them.
      const maxSlice = 20;
      let promoted: number[] = [];
      let promotedAt = 0;
      const runs = await engines(
        {
          prefix,
          customers,
          limit: LIMIT,
          burst: BURST,
          rate: 1500,
          ms: 2000,
          lease: { maxSlice },
        },
        async () => {
          await sleep(700);
          await cluster.kill(master);
          await cluster.settled();
          promotedAt = Date.now();
          promoted = (await cluster.masters()).map((m) => m.port);
        },
      );
      const summary = JSON.stringify(runs.map((r) => ({ reasons: r.reasons, errors: r.errors })));
      expect(promoted).not.toContain(master);
      expect(promoted).toHaveLength(3);
      // The customers on the masters that stayed up: exactly the limit, nothing counted twice.
      const others = customers.filter((c) => !onKilled.includes(c));
      await expectExact(prefix, others, runs);
      // On the promoted replica: every lease given back. A write the old master acknowledged
      // but had not yet sent to its replica is lost with it (Redis replicates asynchronously):
      // a lost grant may be granted again, a lost reply's report counted twice; at most about
      // one slice per engine either way.
      const sum = (key: string) => runs.reduce((s, r) => s + (r.allowed[key] ?? 0), 0);
      for (const c of onKilled) {
        const key = leases(prefix).keys(apiPool(c))[0];
        expect(promoted).toContain(await holderOf(key));
        expect(await leases(prefix).totals(apiPool(c))).toMatchObject({ outstanding: 0, holders: 0 });
        // The engines went on deciding that limit once the replica had taken over.
        expect(Math.max(...runs.map((r) => r.last[`${c}/api`] ?? 0)), summary).toBeGreaterThan(promotedAt);
        expect(Math.abs(sum(`${c}/api`) - LIMIT), `${c}: ${summary}`).toBeLessThanOrEqual(
          2 * maxSlice * PROCESSES,
        );
      }
    });
  },
);
