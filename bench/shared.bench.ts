/**
 * Shared hard limits: 1, 2 and 4 engine processes opened with `counters` on
 * one Redis, over 10,000 customers x 5 hard-limited entitlements (50,000
 * pools). Prints one JSON summary line. Each engine process, all at once:
 * - warms up: `check()` on every pool once, which takes a lease slice on each
 *   (as a running service holds leases on the pools it serves), then waits for
 *   the acquires to land;
 * - measures the memory store (no Redis) on the same calls for reference, in
 *   the same process, before and again after the far phase: `vsMemory` is the
 *   ratio to the mean of the two (the machine is shared: a load that changes
 *   during the far phase moves both references);
 * - "far" phase: `allow()` in chunks of 1,000 per event-loop turn on pools far
 *   from their limit (1e9) for FAR_S seconds: decisions per CPU second (as in
 *   engine.bench; the machine is shared) and per wall second, Redis round trips
 *   per 1,000 decisions. FAR_S is one renewal cycle (half the lease TTL) plus a
 *   tick, so every lease is renewed once in it, as in a service's steady state:
 *   a shorter phase would count all of a renewal round, or none of it,
 *   depending on when the warm-up took the leases;
 * - a naive peer for NAIVE_S seconds: one Redis INCRBY round trip per decision,
 *   awaited (`vsNaivePeer`: wall-clock ratio);
 * - "tight" phase: a second engine on limits of TIGHT_LIMIT per pool (the first
 *   1,000 customers: 5,000 pools), hammered for TIGHT_S seconds, counting
 *   allowed calls per pool: overshoot is what the processes allowed together
 *   past a pool's limit (must be 0).
 * After every process closed, the allowance still outstanding in Redis is the
 * stranded allowance (0 after graceful closes).
 *
 *   npx tsx bench/shared.bench.ts        (or BENCH_ONLY=shared npm run bench)
 *
 * Needs Redis: LIMITR_BENCH_REDIS (default redis://127.0.0.1:6379/0); keys live
 * under a random prefix and are deleted after. Without a server: a `skipped` line.
 *
 * BENCH_SHARED_CLUSTER=1 also starts a Redis Cluster of three masters
 * (redis-server processes on free ports, as test/redis/real-cluster.e2e.test.ts
 * does) and runs every process count against it right after the single
 * server (`countersCluster: true`): `cluster` in the summary, with
 * `clusterVsSingle` ratios from the same run.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Cluster, Redis } from "ioredis";
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";
import { startRedisCluster } from "../test/redis/redis-cluster.js";

const URL_ = process.env.LIMITR_BENCH_REDIS ?? "redis://127.0.0.1:6379/0";
const CUSTOMERS = 10_000;
const ENTITLEMENTS = ["e0", "e1", "e2", "e3", "e4"];
const POOLS = CUSTOMERS * ENTITLEMENTS.length;
const TIGHT_S = 3;
const NAIVE_S = 1;
const TIGHT_LIMIT = 10;
const CHUNK = 1_000;
/** Many pools with a few calls a second each: a slice worth 10 s of demand, at least 100 units. */
const LEASE = { minSlice: 100, horizonMs: 10_000, ttlMs: 30_000 };
/** One renewal cycle (leases are renewed once half their TTL has passed, checked every second) and a tick. */
const FAR_S = LEASE.ttlMs / 2 / 1000 + 1;
/** The memory store's reference run (a rate per CPU second does not depend on the length). */
const MEMORY_S = 3;
/** The tight phase runs on the first 1,000 customers (5,000 pools), so pools reach their limit within it. */
const TIGHT_CUSTOMERS = 1_000;
const TIGHT_POOLS = TIGHT_CUSTOMERS * ENTITLEMENTS.length;

const policyOf = (limit: number) =>
  compilePolicy({
    limitr: 1,
    name: "bench-shared",
    timezone: "UTC",
    meters: Object.fromEntries(
      ENTITLEMENTS.map((e) => [`m_${e}`, { event: `bench.${e}`, aggregation: "count" }]),
    ),
    plans: {
      standard: {
        default: true,
        entitlements: Object.fromEntries(
          ENTITLEMENTS.map((e) => [e, { meter: `m_${e}`, limit, period: "month", mode: "hard" }]),
        ),
      },
    },
  });

const customers = Array.from({ length: CUSTOMERS }, (_, i) => `cust-${i}`);
/** A pseudo-random pool order (xorshift seeded per process), so processes do not move in step. */
function order(seed: number): Uint32Array {
  const out = new Uint32Array(1 << 20);
  let x = seed >>> 0 || 2463534242;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % POOLS;
  }
  return out;
}
const custOf = (k: number) => customers[k % CUSTOMERS] as string;
const entOf = (k: number) => ENTITLEMENTS[Math.floor(k / CUSTOMERS)] as string;
const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Job {
  kind: "shared";
  prefix: string;
  seed: number;
  processes: number;
  /** Where the counters are: the single server, or a seed node of a cluster. */
  url: string;
  cluster: boolean;
}

/** A client for `url`: a cluster client when `cluster`. */
function client(url: string, cluster: boolean): Redis {
  if (!cluster) return new Redis(url);
  const seed = new URL(url);
  return new Cluster([{ host: seed.hostname, port: Number(seed.port) }]) as unknown as Redis;
}

/** allow() in chunks for `seconds`; decisions, allowed, CPU-time and wall rates. */
async function run(l: Limitr, keys: Uint32Array, seconds: number, perPool?: Int32Array) {
  const tight = perPool !== undefined;
  let n = 0;
  let allowed = 0;
  let j = 0;
  const mask = keys.length - 1;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  do {
    for (let i = 0; i < CHUNK; i++, j = (j + 1) & mask) {
      const k = tight ? (keys[j] as number) % TIGHT_POOLS : (keys[j] as number);
      const customer = tight ? (customers[k % TIGHT_CUSTOMERS] as string) : custOf(k);
      const entitlement = tight ? (ENTITLEMENTS[Math.floor(k / TIGHT_CUSTOMERS)] as string) : entOf(k);
      if (l.allow(customer, entitlement)) {
        allowed++;
        if (perPool) perPool[k] = (perPool[k] as number) + 1;
      }
    }
    n += CHUNK;
    await turn();
  } while (performance.now() - t0 < seconds * 1000);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    decisions: n,
    allowed,
    cpuRate: Math.round((n / (cpu.user + cpu.system)) * 1e6),
    wallRate: Math.round((n / wallMs) * 1000),
  };
}

/** The memory store (no Redis) on the same calls: the reference, measured in the same process under the same load. */
async function memory(keys: Uint32Array) {
  const l = await Limitr.open({ policy: policyOf(1e9), store: "memory", alerts: false });
  for (const c of customers) for (const e of ENTITLEMENTS) l.check(c, e);
  await run(l, keys, 0.5); // JIT warm-up
  const far = await run(l, keys, MEMORY_S);
  await l.close();
  return far;
}

/** One INCRBY round trip per decision, awaited: the shared-counter rate limiter most services run. */
async function naive(redis: Redis, prefix: string, keys: Uint32Array) {
  let n = 0;
  const t0 = performance.now();
  let j = 0;
  do {
    const k = keys[j++ & (keys.length - 1)] as number;
    const key = `${prefix}naive:${custOf(k)}|${entOf(k)}`;
    if ((await redis.incrby(key, 1)) > 1e9) await redis.decrby(key, 1);
    n++;
  } while (performance.now() - t0 < NAIVE_S * 1000);
  return { decisions: n, wallRate: Math.round((n / (performance.now() - t0)) * 1000) };
}

async function child(job: Job): Promise<unknown> {
  const keys = order(job.seed);
  const redis = client(job.url, job.cluster);
  const open = (limit: number, prefix: string) =>
    Limitr.open({
      policy: policyOf(limit),
      store: "memory",
      alerts: false,
      counters: job.url,
      countersCluster: job.cluster,
      countersPrefix: prefix,
      lease: LEASE,
    });
  const l = await open(1e9, `${job.prefix}far:`);
  const w0 = performance.now();
  for (const c of customers) for (const e of ENTITLEMENTS) l.check(c, e);
  while ((l.status().counters?.pendingAcquires ?? 0) > 0) await sleep(5);
  const warmUp = { ms: Math.round(performance.now() - w0), calls: l.status().counters?.calls ?? 0 };
  // Start together, so the processes contend for Redis at the same time.
  await redis.incr(`${job.prefix}ready`);
  while (Number(await redis.get(`${job.prefix}ready`)) < job.processes) await sleep(5);
  const mem = await memory(keys);
  await run(l, keys, 0.5); // JIT warm-up
  const calls0 = l.status().counters?.calls ?? 0;
  const far = await run(l, keys, FAR_S);
  const farCalls = (l.status().counters?.calls ?? 0) - calls0;
  await l.close();
  const memAfter = await memory(keys);
  const peer = await naive(redis, job.prefix, keys);

  const t = await open(TIGHT_LIMIT, `${job.prefix}tight:`);
  const perPool = new Int32Array(TIGHT_POOLS);
  const tight = await run(t, keys, TIGHT_S, perPool);
  const tightCalls = t.status().counters?.calls ?? 0;
  await t.close();
  redis.disconnect();
  return {
    warmUp,
    memory: {
      cpuRate: Math.round((mem.cpuRate + memAfter.cpuRate) / 2),
      wallRate: Math.round((mem.wallRate + memAfter.wallRate) / 2),
      before: mem.cpuRate,
      after: memAfter.cpuRate,
    },
    naive: peer,
    far: { ...far, calls: farCalls },
    tight: { ...tight, calls: tightCalls, perPool: Buffer.from(perPool.buffer).toString("base64") },
  };
}

/** Allowance still outstanding in the pools under `prefix` (keys `...:pool`), on every node given. */
async function stranded(nodes: Redis[], prefix: string): Promise<{ pools: number; outstanding: number }> {
  let pools = 0;
  let outstanding = 0;
  for (const redis of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*:pool`, "COUNT", 5000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipe = redis.pipeline();
      for (const k of keys) pipe.hget(k, "outstanding");
      for (const [, v] of (await pipe.exec()) ?? []) outstanding += Number(v ?? 0);
      pools += keys.length;
    } while (cursor !== "0");
  }
  return { pools, outstanding };
}

async function drop(nodes: Redis[], prefix: string): Promise<void> {
  for (const redis of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5000);
      cursor = next;
      // One key per UNLINK (a multi-key one must stay in one slot on a cluster node), pipelined.
      const pipe = redis.pipeline();
      for (const k of keys) pipe.unlink(k);
      await pipe.exec();
    } while (cursor !== "0");
  }
}

const self = fileURLToPath(import.meta.url);
async function spawn(job: Job): Promise<Record<string, unknown>> {
  const r = await execa("npx", ["tsx", "--conditions=limitr-source", self, "--child", JSON.stringify(job)]);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

type SharedRun = {
  warmUp: { ms: number; calls: number };
  memory: { cpuRate: number; wallRate: number; before: number; after: number };
  naive: { wallRate: number };
  far: { decisions: number; allowed: number; cpuRate: number; wallRate: number; calls: number };
  tight: { decisions: number; allowed: number; calls: number; perPool: string };
};

/** Where a scenario's counters live: the URL, cluster or not, and plain connections to its (master) nodes. */
interface Target {
  url: string;
  cluster: boolean;
  nodes: Redis[];
}

async function scenario(target: Target, processes: number) {
  const prefix = `limitr-bench:${randomBytes(6).toString("hex")}:`;
  const runs = (await Promise.all(
    Array.from({ length: processes }, (_, i) =>
      spawn({
        kind: "shared",
        prefix,
        seed: 7919 * (i + 1),
        processes,
        url: target.url,
        cluster: target.cluster,
      }),
    ),
  )) as unknown as SharedRun[];
  const allowedPerPool = new Int32Array(TIGHT_POOLS);
  for (const r of runs) {
    const counts = new Int32Array(new Uint8Array(Buffer.from(r.tight.perPool, "base64")).buffer);
    for (let k = 0; k < TIGHT_POOLS; k++)
      allowedPerPool[k] = (allowedPerPool[k] as number) + (counts[k] as number);
  }
  let overshoot = 0;
  let exhausted = 0;
  for (const a of allowedPerPool) {
    overshoot += Math.max(0, a - TIGHT_LIMIT);
    if (a === TIGHT_LIMIT) exhausted++;
  }
  const left = await stranded(target.nodes, prefix);
  await drop(target.nodes, prefix);
  const sum = (f: (r: SharedRun) => number) => runs.reduce((s, r) => s + f(r), 0);
  const farDecisions = sum((r) => r.far.decisions);
  return {
    processes,
    perProcessOpsPerCpuS: Math.round(sum((r) => r.far.cpuRate) / processes),
    memoryOpsPerCpuS: Math.round(sum((r) => r.memory.cpuRate) / processes),
    memoryBeforeAfterOpsPerCpuS: [
      Math.round(sum((r) => r.memory.before) / processes),
      Math.round(sum((r) => r.memory.after) / processes),
    ],
    vsMemory: Number((sum((r) => r.far.cpuRate / r.memory.cpuRate) / processes).toFixed(3)),
    naivePeerWallOpsS: Math.round(sum((r) => r.naive.wallRate) / processes),
    vsNaivePeer: Number((sum((r) => r.far.wallRate / r.naive.wallRate) / processes).toFixed(1)),
    perProcessWallOpsS: Math.round(sum((r) => r.far.wallRate) / processes),
    totalWallOpsS: sum((r) => r.far.wallRate),
    farDenied: farDecisions - sum((r) => r.far.allowed),
    redisCallsPer1000: Number(((sum((r) => r.far.calls) / farDecisions) * 1000).toFixed(3)),
    warmUpCallsPerProcess: Math.round(sum((r) => r.warmUp.calls) / processes),
    warmUpMs: Math.round(sum((r) => r.warmUp.ms) / processes),
    tight: {
      pools: TIGHT_POOLS,
      limitPerPool: TIGHT_LIMIT,
      decisions: sum((r) => r.tight.decisions),
      allowed: sum((r) => r.tight.allowed),
      poolsAtLimit: exhausted,
      overshoot,
      redisCallsPer1000: Number(
        ((sum((r) => r.tight.calls) / sum((r) => r.tight.decisions)) * 1000).toFixed(3),
      ),
    },
    strandedAfterClose: left.outstanding,
    poolsInRedis: left.pools,
  };
}

const at = process.argv.indexOf("--child");
if (at > 0) {
  console.log(JSON.stringify(await child(JSON.parse(process.argv[at + 1] as string) as Job)));
} else {
  const redis = new Redis(URL_, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const up = await redis.connect().then(
    () => true,
    () => false,
  );
  if (!up) {
    console.log(JSON.stringify({ bench: "shared", skipped: `no Redis at ${URL_} (set LIMITR_BENCH_REDIS)` }));
    redis.disconnect();
  } else {
    type Result = Awaited<ReturnType<typeof scenario>>;
    const results: Record<string, Result> = {};
    const clusterResults: Record<string, Result> = {};
    const single: Target = { url: URL_, cluster: false, nodes: [redis] };
    const redisCluster = process.env.BENCH_SHARED_CLUSTER === "1" ? await startRedisCluster() : null;
    const onCluster: Target | null = redisCluster && {
      url: redisCluster.url,
      cluster: true,
      nodes: (await redisCluster.masters()).map((m) => redisCluster.node(m.port)),
    };
    const counts = (process.env.BENCH_SHARED_PROCESSES ?? "1,2,4").split(",").map(Number);
    try {
      for (const n of counts) {
        results[`processes${n}`] = await scenario(single, n);
        process.stderr.write(`shared ${n} process(es): ${JSON.stringify(results[`processes${n}`])}\n`);
        if (onCluster) {
          clusterResults[`processes${n}`] = await scenario(onCluster, n);
          process.stderr.write(
            `shared ${n} process(es), cluster: ${JSON.stringify(clusterResults[`processes${n}`])}\n`,
          );
        }
      }
    } finally {
      await redisCluster?.stop();
    }
    redis.disconnect();
    const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
    const all = [...Object.values(results), ...Object.values(clusterResults)];
    console.log(
      JSON.stringify({
        bench: "shared",
        pools: POOLS,
        lease: LEASE,
        farSeconds: FAR_S,
        results,
        ...(onCluster && {
          cluster: clusterResults,
          // Same process counts, same run: the cluster's figure over the single server's.
          clusterVsSingle: Object.fromEntries(
            Object.entries(clusterResults).map(([k, c]) => {
              const s = results[k] as Result;
              return [
                k,
                {
                  perProcessOpsPerCpuS: ratio(c.perProcessOpsPerCpuS, s.perProcessOpsPerCpuS),
                  perProcessWallOpsS: ratio(c.perProcessWallOpsS, s.perProcessWallOpsS),
                  redisCallsPer1000: ratio(c.redisCallsPer1000, s.redisCallsPer1000),
                  warmUpCallsPerProcess: ratio(c.warmUpCallsPerProcess, s.warmUpCallsPerProcess),
                  warmUpMs: ratio(c.warmUpMs, s.warmUpMs),
                  tightRedisCallsPer1000: ratio(c.tight.redisCallsPer1000, s.tight.redisCallsPer1000),
                },
              ];
            }),
          ),
        }),
        overshoot: all.reduce((s, r) => s + r.tight.overshoot, 0),
      }),
    );
  }
}
