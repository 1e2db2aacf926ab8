/**
 * Wallets shared through a Postgres store (docs/scale.md, "Wallets and spend
 * caps across engines"): what a prepaid `allow()` costs when the wallet is
 * leased from Postgres, against the memory store's wallet on the same calls
 * (same process, same moment), and how long one sync takes for many wallets.
 *
 *   npx tsx bench/shared-wallet.bench.ts    (or BENCH_ONLY=shared-wallet npm run bench)
 *
 * Needs a server: LIMITR_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test);
 * everything lives in a random schema dropped at the end. BENCH_SW_CUSTOMERS (1,000)
 * wallets, BENCH_SW_CALLS (100,000) calls a round, best of three rounds. Slices are at
 * least 10 USD (minSlice), so the timed calls are covered by the held slice: the figure is
 * the decision path's cost, not the refill latency (a round outruns a sync of 1,000 wallets).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";

const BASE = process.env.LIMITR_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const CUSTOMERS = Number(process.env.BENCH_SW_CUSTOMERS ?? 1000);
const CALLS = Number(process.env.BENCH_SW_CALLS ?? 100_000);
const log = (m: string) => process.stderr.write(`shared-wallet: ${m}\n`);

const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  currency: "USD",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    payg: {
      default: true,
      wallet: { unit: "USD" },
      entitlements: {
        paid: { meter: "calls", mode: "prepaid", price: { model: "per_unit", unit_price: 0.0001 } },
      },
    },
  },
});

const schema = `limitr_bench_${randomBytes(5).toString("hex")}`;
const url = `${BASE}?schema=${schema}`;
const admin = new pg.Client({ connectionString: BASE });
try {
  await admin.connect();
} catch (err) {
  log(`skipped: no Postgres server at ${BASE} (${(err as Error).message})`);
  console.log(JSON.stringify({ bench: "shared-wallet", skipped: true }));
  process.exit(0);
}

/**
 * ns per call and denials, best of three rounds of CALLS calls over the customers. The
 * event loop turns every 1,000 calls (as a server's does between requests), so background
 * refills can run; only the calls are timed.
 */
async function rounds(engine: Limitr, n = 3): Promise<{ ns: number; denied: number }> {
  let best = Infinity;
  let denied = 0;
  for (let round = 0; round < n; round++) {
    let spent = 0n;
    for (let i = 0; i < CALLS; ) {
      const t = process.hrtime.bigint();
      for (const end = Math.min(CALLS, i + 1000); i < end; i++)
        if (!engine.allow(`c${i % CUSTOMERS}`, "paid", 1)) denied++;
      spent += process.hrtime.bigint() - t;
      await new Promise((r) => setImmediate(r));
    }
    best = Math.min(best, Number(spent) / CALLS);
  }
  return { ns: best, denied };
}

function topUps(engine: Limitr): void {
  for (let c = 0; c < CUSTOMERS; c++) engine.topUp(`c${c}`, "100000", { id: `seed-${c}` });
}

try {
  const memory = await Limitr.open({ policy, store: "memory", alerts: false });
  topUps(memory);
  const mem = await rounds(memory);
  await memory.close();

  // Slices of at least 10 USD (100,000 calls): the timed rounds measure calls the slice covers.
  const shared = await Limitr.open({
    policy,
    store: url,
    alerts: false,
    walletLease: { ttlMs: 30_000, minSlice: "10" },
  });
  topUps(shared);
  let t = performance.now();
  await shared.flush();
  const seedMs = performance.now() - t;
  // Every customer asks for a slice (denied lease_pending), then one sync leases them all.
  for (let c = 0; c < CUSTOMERS; c++) shared.allow(`c${c}`, "paid", 1);
  t = performance.now();
  await shared.flush();
  const leaseMs = performance.now() - t;
  // One untimed round: the demand it shows sizes the next slices.
  const warm = await rounds(shared, 1);
  await shared.flush();
  const pgRun = await rounds(shared);
  t = performance.now();
  await shared.flush();
  const debitMs = performance.now() - t;
  await shared.close();
  const out = {
    bench: "shared-wallet",
    customers: CUSTOMERS,
    memoryNsPerAllow: Math.round(mem.ns),
    sharedNsPerAllow: Math.round(pgRun.ns),
    ratio: Number((pgRun.ns / mem.ns).toFixed(2)),
    sharedDenied: pgRun.denied,
    warmUpDenied: warm.denied,
    syncMs: {
      topUps: Math.round(seedMs),
      leases: Math.round(leaseMs),
      debitsAfterRounds: Math.round(debitMs),
    },
  };
  log(JSON.stringify(out));
  console.log(JSON.stringify(out));
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
