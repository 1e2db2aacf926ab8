/**
 * Lease operations on Postgres rows (`PgLeases`, engines sharing a store
 * without Redis) against the same operations as Redis scripts (`RedisLeases`),
 * in one run under the same load: the round trip behind a `lease_pending`
 * (one acquire of one pool, sequential) and a batch (one acquire of 256
 * pools). Prints one JSON line; `ratio` is Postgres / Redis.
 *
 *   npx tsx bench/pg-leases.bench.ts        (or BENCH_ONLY=pg-leases npm run bench)
 *
 * Needs Postgres (LIMITR_BENCH_PG, default postgres://postgres@127.0.0.1:5432/test;
 * a private schema, dropped after) and Redis (LIMITR_BENCH_REDIS; a random prefix,
 * deleted after). Without them: a `skipped` line.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { RedisLeases } from "../src/engine/adapters/redis/lease-client.js";
import { PgEngineStore } from "../src/engine/adapters/store/postgres/engine-store.js";
import { PgLeases } from "../src/engine/adapters/store/postgres/pg-leases.js";
import { parseLocation } from "../src/engine/adapters/store/postgres/url.js";
import { LEASE_DEFAULTS, ROW_LEASE_DEFAULTS } from "../src/engine/core/engine/lease.js";

const PG = process.env.LIMITR_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS = process.env.LIMITR_BENCH_REDIS ?? "redis://127.0.0.1:6379/0";
const SINGLE = 300;
const BATCHES = 20;
const BATCH = 256;

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function run(
  acquire: (pools: { counter: string; periodStart: number; periodEnd: null }[]) => Promise<unknown>,
  tag: string,
): Promise<{ singleMs: number; batchMs: number }> {
  const one = { counter: `${tag}|single`, periodStart: 0, periodEnd: null };
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < SINGLE; i++) await acquire([one]);
  const singleMs = ms(t0) / SINGLE;
  t0 = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++)
    await acquire(
      Array.from({ length: BATCH }, (_, i) => ({ counter: `${tag}|c${i}`, periodStart: b, periodEnd: null })),
    );
  return { singleMs, batchMs: ms(t0) / BATCHES };
}

const schema = `limitr_bench_${randomBytes(5).toString("hex")}`;
const url = `${PG}?schema=${schema}`;
const prefix = `limitr:bench:${randomBytes(5).toString("hex")}:`;
let redis: Redis | null = null;
try {
  (await PgEngineStore.open(url)).close();
  redis = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
} catch (err) {
  process.stdout.write(`${JSON.stringify({ bench: "pg-leases", skipped: (err as Error).message })}\n`);
  redis?.disconnect();
  process.exit(0);
}
const request = { limit: 1e12, consumed: 1, need: 1, rate: 100 };
const rows = new PgLeases(parseLocation(url), ROW_LEASE_DEFAULTS);
const keys = new RedisLeases(redis, { prefix, params: LEASE_DEFAULTS });
const p = await run((pools) => rows.acquireMany(pools.map((pool) => ({ pool, request }))), "pg");
const r = await run((pools) => keys.acquireMany(pools.map((pool) => ({ pool, request }))), "redis");
await rows.close();
const stale = await redis.keys(`${prefix}*`);
if (stale.length > 0) await redis.del(...stale);
redis.disconnect();
const admin = new pg.Client({ connectionString: PG });
await admin.connect();
await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
await admin.end();
const round = (x: number) => Math.round(x * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    bench: "pg-leases",
    acquireOnePoolMs: {
      postgres: round(p.singleMs),
      redis: round(r.singleMs),
      ratio: round(p.singleMs / r.singleMs),
    },
    acquire256PoolsMs: {
      postgres: round(p.batchMs),
      redis: round(r.batchMs),
      ratio: round(p.batchMs / r.batchMs),
    },
  })}\n`,
);
