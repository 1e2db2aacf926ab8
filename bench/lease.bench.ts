/**
 * Quota leases in Redis: 1, 2 and 4 engine processes share one hard limit, each
 * deciding at a steady demand from its lease, refilling in the background at
 * the low-water mark and reporting every `REPORT_MS`. Measures Redis round trips
 * (acquire + report + release) per 1,000 decisions, calls that found their slice
 * empty while a refill was in flight (`lease_pending`), acquire latency,
 * overshoot (allowed past the limit) and stranded allowance after every holder
 * closed. Prints one JSON summary line.
 *
 *   npx tsx bench/lease.bench.ts        (or BENCH_ONLY=lease npm run bench)
 *
 * Needs a Redis server: LIMITR_BENCH_REDIS (default redis://127.0.0.1:6379/0);
 * keys live under a random prefix and are deleted after. Without a server the
 * suite prints a `skipped` line.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Redis } from "ioredis";
import { type LeasePool, RedisLeases } from "../src/engine/adapters/redis/lease-client.js";
import { demandRate, LEASE_DEFAULTS, type LeaseParams, lowWater } from "../src/engine/core/engine/lease.js";

const URL_ = process.env.LIMITR_BENCH_REDIS ?? "redis://127.0.0.1:6379/0";
/** Decisions per second per process. */
const DEMAND = 2_000;
/** Each process's share of the limit: about five seconds of its demand. */
const UNITS_PER_PROCESS = 10_000;
const REPORT_MS = 100;
const PARAMS: LeaseParams = { ...LEASE_DEFAULTS, ttlMs: 10_000 };
const pool: LeasePool = { counter: "bench", periodStart: 0, periodEnd: null };

interface HolderJob {
  prefix: string;
  limit: number;
}
interface HolderResult {
  allowed: number;
  acquires: number;
  reports: number;
  pending: number;
  latencies: number[];
  /** The same counts while the pool held more than 2 x holders x maxSlice (before the tail). */
  steady: { allowed: number; trips: number; pending: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One engine process: decides at DEMAND/s from its lease until the pool is used up. */
async function holder(job: HolderJob): Promise<HolderResult> {
  const redis = new Redis(URL_);
  const leases = new RedisLeases(redis, { prefix: job.prefix, params: PARAMS });
  const out: HolderResult = {
    allowed: 0,
    acquires: 0,
    reports: 0,
    pending: 0,
    latencies: [],
    steady: { allowed: 0, trips: 0, pending: 0 },
  };
  let steady = true;
  const seen = (r: { remainder: number; holders: number }) => {
    steady = r.remainder > 2 * Math.max(1, r.holders) * PARAMS.maxSlice;
  };
  let allowance = 0;
  let unreported = 0;
  let slice = 0;
  let rate = 0;
  let lastRateAt = performance.now();
  let sinceRate = 0;
  let drained = false;
  let refill: Promise<void> | null = null;
  let reporting: Promise<unknown> | null = null;

  const measure = () => {
    const now = performance.now();
    if (now - lastRateAt < 1) return;
    rate = demandRate(rate, sinceRate, now - lastRateAt, 250);
    lastRateAt = now;
    sinceRate = 0;
  };
  const acquire = async (need: number) => {
    measure();
    const consumed = unreported;
    unreported = 0;
    const t0 = performance.now();
    const r = await leases.acquire(pool, { limit: job.limit, consumed, need, rate });
    out.latencies.push(performance.now() - t0);
    out.acquires++;
    if (steady) out.steady.trips++;
    seen(r);
    // Units allowed while the call was in flight are already off `allowance`.
    allowance += r.granted;
    slice = r.granted;
    if (r.granted === 0 && r.remainder < 1) drained = true;
  };
  const reporter = setInterval(() => {
    // An acquire in flight reports too; otherwise renew the lease with what was allowed since.
    if (unreported === 0 || refill || reporting) return;
    const consumed = unreported;
    unreported = 0;
    out.reports++;
    if (steady) out.steady.trips++;
    reporting = leases.report(pool, consumed).then((r) => {
      seen(r);
      reporting = null;
    });
  }, REPORT_MS);

  const start = performance.now();
  let decided = 0;
  let counted = -1;
  for (;;) {
    const now = performance.now();
    if (now - lastRateAt >= 50) measure();
    const due = Math.floor(((now - start) * DEMAND) / 1000);
    while (decided < due) {
      // Demand is every call, allowed or waiting for allowance (counted once).
      if (counted !== decided) {
        sinceRate++;
        counted = decided;
      }
      if (allowance >= 1) {
        allowance -= 1;
        unreported += 1;
        out.allowed++;
        if (steady) out.steady.allowed++;
        decided++;
        if (!refill && !drained && allowance <= lowWater(slice, PARAMS)) {
          refill = acquire(0).then(() => {
            refill = null;
          });
        }
        continue;
      }
      if (refill) {
        // A synchronous call here is denied with lease_pending; the async path waits for the refill.
        out.pending++;
        if (steady) out.steady.pending++;
        await refill;
        continue;
      }
      await acquire(1);
      if (allowance >= 1) continue;
      break;
    }
    if (allowance < 1 && drained && !refill) break;
    await sleep(2);
  }
  clearInterval(reporter);
  await refill;
  await reporting;
  await leases.release(pool, unreported);
  out.reports++;
  redis.disconnect();
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function scenario(processes: number) {
  const prefix = `limitr-bench:${randomBytes(6).toString("hex")}:`;
  const limit = UNITS_PER_PROCESS * processes;
  const self = fileURLToPath(import.meta.url);
  const job = JSON.stringify({ prefix, limit });
  const runs = await Promise.all(
    Array.from({ length: processes }, () =>
      execa("npx", ["tsx", self, "--holder", job]).then((r) => JSON.parse(r.stdout) as HolderResult),
    ),
  );
  const redis = new Redis(URL_);
  const leases = new RedisLeases(redis, { prefix, params: PARAMS });
  const totals = await leases.totals(pool);
  await redis.del(...leases.keys(pool));
  redis.disconnect();
  const allowed = runs.reduce((s, r) => s + r.allowed, 0);
  const lat = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const sum = (f: (r: HolderResult) => number) => runs.reduce((s, r) => s + f(r), 0);
  const per1000 = (n: number, of: number) => Number(((n / Math.max(1, of)) * 1000).toFixed(2));
  return {
    processes,
    limit,
    allowed,
    overshoot: Math.max(0, allowed - limit),
    strandedAfterClose: totals.outstanding,
    neverAllowed: limit - allowed,
    roundTripsPer1000: per1000(
      sum((r) => r.acquires + r.reports),
      allowed,
    ),
    acquiresPer1000: per1000(
      sum((r) => r.acquires),
      allowed,
    ),
    leasePendingPer1000: per1000(
      sum((r) => r.pending),
      allowed,
    ),
    steadyDecisions: sum((r) => r.steady.allowed),
    steadyRoundTripsPer1000: per1000(
      sum((r) => r.steady.trips),
      sum((r) => r.steady.allowed),
    ),
    steadyLeasePendingPer1000: per1000(
      sum((r) => r.steady.pending),
      sum((r) => r.steady.allowed),
    ),
    acquireMsP50: Number(percentile(lat, 0.5).toFixed(3)),
    acquireMsP99: Number(percentile(lat, 0.99).toFixed(3)),
  };
}

const holderAt = process.argv.indexOf("--holder");
if (holderAt > 0) {
  console.log(JSON.stringify(await holder(JSON.parse(process.argv[holderAt + 1]!) as HolderJob)));
} else {
  const probe = new Redis(URL_, { lazyConnect: true, maxRetriesPerRequest: 0 });
  const up = await probe.connect().then(
    () => true,
    () => false,
  );
  probe.disconnect();
  if (!up) {
    console.log(JSON.stringify({ bench: "lease", skipped: `no Redis at ${URL_} (set LIMITR_BENCH_REDIS)` }));
  } else {
    const results: Record<string, unknown> = {};
    for (const n of [1, 2, 4]) {
      results[`processes${n}`] = await scenario(n);
      process.stderr.write(`lease ${n} process(es): ${JSON.stringify(results[`processes${n}`])}\n`);
    }
    console.log(
      JSON.stringify({
        bench: "lease",
        demandPerProcess: DEMAND,
        reportMs: REPORT_MS,
        params: PARAMS,
        results,
      }),
    );
  }
}
