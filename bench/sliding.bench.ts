/**
 * Hard limits on sliding windows shared through Redis, next to the same limit
 * on a calendar month, in 1 and 2 engine processes opened with `counters`.
 * Prints one JSON summary line. Each engine process, all at once:
 * - "far" phases, one per period (`month`, `{ sliding: PT24H }`,
 *   `{ sliding: PT1M }`), on CUSTOMERS pools far from their limit: after a
 *   warm-up (`decideAsync` once per pool), `allow()` in chunks of 1,000 per
 *   event-loop turn for FAR_S seconds on the wall clock. Decisions per CPU
 *   second, and Redis round trips per 1,000 decisions (PT1M changes bucket
 *   every second: each pool in use gives one bucket back and acquires the
 *   next, batched; PT24H and month do not change within the phase);
 * - "tight" phase: TIGHT_CUSTOMERS customers with "at most TIGHT_LIMIT in any
 *   minute" on a clock running SPEED times faster than the wall clock,
 *   hammered with `decide()` for TIGHT_S seconds (several windows); every
 *   allowed call's instant goes back to the parent, which counts the worst
 *   one-minute window per customer across processes: overshoot must be 0.
 *
 *   npx tsx bench/sliding.bench.ts        (or BENCH_ONLY=sliding npm run bench)
 *
 * Needs Redis: LIMITR_BENCH_REDIS (default redis://127.0.0.1:6379/0); keys live
 * under a random prefix and are deleted after. Without a server: a `skipped` line.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Redis } from "ioredis";
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";

const URL_ = process.env.LIMITR_BENCH_REDIS ?? "redis://127.0.0.1:6379/0";
const CUSTOMERS = 1_000;
const FAR_S = 2;
const CHUNK = 1_000;
const TIGHT_CUSTOMERS = 20;
const TIGHT_LIMIT = 30;
const TIGHT_S = 10;
const SPEED = 12;
const W = 60_000;
const PERIODS = { month: "month", day: { sliding: "PT24H" }, minute: { sliding: "PT1M" } } as const;
type PeriodName = keyof typeof PERIODS;

const policyOf = (limit: number) =>
  compilePolicy({
    limitr: 1,
    name: "bench-sliding",
    timezone: "UTC",
    meters: { calls: { event: "bench.call", aggregation: "count" } },
    plans: {
      standard: {
        default: true,
        entitlements: Object.fromEntries(
          Object.entries(PERIODS).map(([name, period]) => [
            name,
            { meter: "calls", limit, period, mode: "hard" },
          ]),
        ),
      },
    },
  });

interface Job {
  prefix: string;
  seed: number;
  t0: number;
}

interface FarRun {
  decisions: number;
  allowed: number;
  cpuRate: number;
  calls: number;
}

interface Run {
  far: Record<PeriodName, FarRun>;
  tight: { decisions: number; allowed: number[][]; calls: number };
}

async function child(job: Job): Promise<Run> {
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => `cust-${i}`);
  const far = await Limitr.open({
    policy: policyOf(1e9),
    store: "memory",
    counters: URL_,
    countersPrefix: `${job.prefix}far:`,
    lease: { minSlice: 100, horizonMs: 10_000, ttlMs: 30_000 },
    alerts: false,
  });
  const out = {} as Record<PeriodName, FarRun>;
  let x = job.seed >>> 0 || 2463534242;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % CUSTOMERS;
  };
  for (const name of Object.keys(PERIODS) as PeriodName[]) {
    await Promise.all(customers.map((c) => far.decideAsync(c, name, 1)));
    const calls0 = far.status().counters?.calls ?? 0;
    const cpu0 = process.cpuUsage();
    const end = Date.now() + FAR_S * 1000;
    let decisions = 0;
    let allowed = 0;
    while (Date.now() < end) {
      for (let i = 0; i < CHUNK; i++) if (far.allow(customers[next()] as string, name)) allowed++;
      decisions += CHUNK;
      await new Promise((r) => setImmediate(r));
    }
    const cpu = process.cpuUsage(cpu0);
    out[name] = {
      decisions,
      allowed,
      cpuRate: Math.round(decisions / ((cpu.user + cpu.system) / 1e6)),
      calls: (far.status().counters?.calls ?? 0) - calls0,
    };
  }
  await far.close();

  // The tight phase: every process starts the fast clock at the same wall instant.
  let wallStart = Number.POSITIVE_INFINITY;
  const clock = () => job.t0 + Math.max(0, Date.now() - wallStart) * SPEED;
  const tight = await Limitr.open({
    policy: policyOf(TIGHT_LIMIT),
    store: "memory",
    counters: URL_,
    countersPrefix: `${job.prefix}tight:`,
    alerts: false,
    now: clock,
  });
  const allowed: number[][] = Array.from({ length: TIGHT_CUSTOMERS }, () => []);
  const redis = new Redis(URL_);
  await redis.incr(`${job.prefix}ready`);
  let go: string | null = null;
  while ((go = await redis.get(`${job.prefix}go`)) === null) await new Promise((r) => setTimeout(r, 5));
  redis.disconnect();
  wallStart = Number(go);
  while (Date.now() < wallStart) await new Promise((r) => setTimeout(r, 1));
  const calls0 = tight.status().counters?.calls ?? 0;
  const end = wallStart + TIGHT_S * 1000;
  let decisions = 0;
  let i = 0;
  while (Date.now() < end) {
    for (let k = 0; k < 200; k++) {
      const c = i++ % TIGHT_CUSTOMERS;
      const now = clock();
      if (tight.decide(`tight-${c}`, "minute", 1, { now }).allowed) (allowed[c] as number[]).push(now);
      decisions++;
    }
    await new Promise((r) => setImmediate(r));
  }
  const calls = (tight.status().counters?.calls ?? 0) - calls0;
  await tight.close();
  return { far: out, tight: { decisions, allowed, calls } };
}

/** The most allowed in any window (t - W, t]. */
function worstWindow(instants: number[]): number {
  const t = [...instants].sort((a, b) => a - b);
  let worst = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while ((t[lo] as number) <= (t[hi] as number) - W) lo++;
    worst = Math.max(worst, hi - lo + 1);
  }
  return worst;
}

async function drop(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}

const self = fileURLToPath(import.meta.url);

async function scenario(redis: Redis, processes: number) {
  const prefix = `limitr-bench:${randomBytes(6).toString("hex")}:`;
  const t0 = Math.ceil(Date.now() / 1000) * 1000;
  const children = Array.from({ length: processes }, (_, i) =>
    execa("npx", [
      "tsx",
      "--conditions=limitr-source",
      self,
      "--child",
      JSON.stringify({ prefix, seed: 7919 * (i + 1), t0 }),
    ]).then((r) => JSON.parse(r.stdout) as Run),
  );
  // The tight phase starts in every process at once, after each one's far phases.
  while (Number((await redis.get(`${prefix}ready`)) ?? 0) < processes)
    await new Promise((r) => setTimeout(r, 20));
  await redis.set(`${prefix}go`, String(Date.now() + 200));
  const runs = await Promise.all(children);
  await drop(redis, prefix);
  const far = {} as Record<
    PeriodName,
    { opsPerCpuS: number; redisCallsPer1000: number; decisions: number; denied: number }
  >;
  for (const name of Object.keys(PERIODS) as PeriodName[]) {
    const decisions = runs.reduce((s, r) => s + r.far[name].decisions, 0);
    far[name] = {
      opsPerCpuS: Math.round(runs.reduce((s, r) => s + r.far[name].cpuRate, 0) / processes),
      redisCallsPer1000: Number(
        ((runs.reduce((s, r) => s + r.far[name].calls, 0) / decisions) * 1000).toFixed(3),
      ),
      decisions,
      denied: decisions - runs.reduce((s, r) => s + r.far[name].allowed, 0),
    };
  }
  let overshoot = 0;
  let allowed = 0;
  let windowsFull = 0;
  for (let c = 0; c < TIGHT_CUSTOMERS; c++) {
    const all = runs.flatMap((r) => r.tight.allowed[c] as number[]);
    allowed += all.length;
    const worst = worstWindow(all);
    overshoot += Math.max(0, worst - TIGHT_LIMIT);
    if (worst === TIGHT_LIMIT) windowsFull++;
  }
  const tightDecisions = runs.reduce((s, r) => s + r.tight.decisions, 0);
  return {
    processes,
    far,
    tight: {
      customers: TIGHT_CUSTOMERS,
      limitPerMinute: TIGHT_LIMIT,
      simulatedMinutes: (TIGHT_S * 1000 * SPEED) / W,
      decisions: tightDecisions,
      allowed,
      customersAtLimit: windowsFull,
      overshoot,
      redisCallsPer1000: Number(
        ((runs.reduce((s, r) => s + r.tight.calls, 0) / tightDecisions) * 1000).toFixed(3),
      ),
    },
  };
}

const at = process.argv.indexOf("--child");
if (at > 0) {
  console.log(JSON.stringify(await child(JSON.parse(process.argv[at + 1] as string) as Job)));
  process.exit(0);
} else {
  const redis = new Redis(URL_, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const up = await redis.connect().then(
    () => true,
    () => false,
  );
  if (!up) {
    console.log(
      JSON.stringify({ bench: "sliding", skipped: `no Redis at ${URL_} (set LIMITR_BENCH_REDIS)` }),
    );
    redis.disconnect();
  } else {
    const results: Record<string, Awaited<ReturnType<typeof scenario>>> = {};
    for (const n of (process.env.BENCH_SLIDING_PROCESSES ?? "1,2").split(",").map(Number)) {
      results[`processes${n}`] = await scenario(redis, n);
      process.stderr.write(`sliding ${n} process(es): ${JSON.stringify(results[`processes${n}`])}\n`);
    }
    redis.disconnect();
    console.log(
      JSON.stringify({
        bench: "sliding",
        customers: CUSTOMERS,
        results,
        overshoot: Object.values(results).reduce((s, r) => s + r.tight.overshoot, 0),
      }),
    );
  }
}
