/**
 * The engine on a Postgres store (SPEC §11): what a decision costs with the
 * store behind it (against the memory store, same calls), how fast the
 * background writer commits what the engine counted, and how long a plan
 * change takes to reach a second engine.
 *
 *   npx tsx bench/pg-engine.bench.ts    (or BENCH_ONLY=pg-engine npm run bench)
 *
 * Needs a server: LIMITR_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test);
 * everything lives in a random schema dropped at the end. BENCH_PGE_CALLS sets
 * the number of counted calls (200,000).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";

const BASE = process.env.LIMITR_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const CALLS = Number(process.env.BENCH_PGE_CALLS ?? 200_000);
const log = (m: string) => process.stderr.write(`pg-engine: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: { default: true, entitlements: { api: { meter: "calls", limit: 1e9, mode: "soft" } } },
    pro: { entitlements: { api: { meter: "calls", limit: 2e9, mode: "soft" } } },
  },
});

const schema = `limitr_bench_${randomBytes(5).toString("hex")}`;
const url = `${BASE}?schema=${schema}`;
const admin = new pg.Client({ connectionString: BASE });
try {
  await admin.connect();
} catch (err) {
  log(`skipped: no Postgres server at ${BASE} (${(err as Error).message})`);
  console.log(JSON.stringify({ bench: "pg-engine", skipped: true }));
  process.exit(0);
}

/** ns per counted call, best of three rounds of `n` calls over 1,000 customers. */
function decide(engine: Limitr, n: number, tag: string): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) engine.allow(`c${i % 1000}`, "api", 1, { id: `${tag}${round}-${i}` });
    best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
  }
  return best;
}

try {
  const memory = await Limitr.open({ policy, store: "memory", alerts: false });
  const third = Math.floor(CALLS / 3);
  const memNs = decide(memory, third, "m");
  await memory.close();

  const engine = await Limitr.open({ policy, store: url, alerts: false });
  const pgNs = decide(engine, third, "p");
  const counted = 3 * third;
  const t0 = performance.now();
  await engine.flush();
  const drainS = (performance.now() - t0) / 1000;
  const health = engine.status().storeHealth;
  log(
    `decision with the memory store: ${memNs.toFixed(0)} ns; with the Postgres store: ${pgNs.toFixed(0)} ns`,
  );
  log(`events written by the engine: ${health?.writtenEvents} (counted ${counted})`);

  // Writer throughput on its own: a fresh backlog of CALLS events, timed from hand-over to commit.
  for (let i = 0; i < CALLS; i++) engine.allow(`c${i % 1000}`, "api", 1, { id: `w${i}` });
  const t1 = performance.now();
  await engine.flush();
  const writeS = (performance.now() - t1) / 1000;
  log(
    `background writer: ${CALLS} events committed in ${writeS.toFixed(2)} s (${Math.round(CALLS / writeS)} events/s)`,
  );

  // Plan propagation to a second engine at the default poll (1 s) and at 100 ms.
  const seen: Record<string, number> = {};
  for (const poll of [1000, 100]) {
    const a = await Limitr.open({ policy, store: url, alerts: false, planPollMs: poll });
    const b = await Limitr.open({ policy, store: url, alerts: false, planPollMs: poll });
    const samples: number[] = [];
    for (let k = 0; k < 5; k++) {
      const customer = `plan-${poll}-${k}`;
      a.setPlan(customer, "pro");
      await a.flush();
      const start = performance.now();
      while (b.usage(customer, "api").limit !== 2e9) await sleep(2);
      samples.push(performance.now() - start);
      await sleep(Math.random() * poll);
    }
    seen[`plan_seen_ms_poll_${poll}_max`] = Math.round(Math.max(...samples));
    seen[`plan_seen_ms_poll_${poll}_mean`] = Math.round(samples.reduce((x, y) => x + y, 0) / samples.length);
    log(`plan change seen by another engine, planPollMs ${poll}: ${samples.map(Math.round).join(", ")} ms`);
    await a.close();
    await b.close();
  }
  await engine.close();
  const rows = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.events`);
  console.log(
    JSON.stringify({
      bench: "pg-engine",
      results: {
        calls: CALLS,
        decide_ns_memory: Math.round(memNs),
        decide_ns_postgres: Math.round(pgNs),
        drain_after_decisions_s: Number(drainS.toFixed(3)),
        writer_events_s: Math.round(CALLS / writeS),
        stored_events: Number(rows.rows[0]?.n),
        ...seen,
      },
    }),
  );
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await admin.end();
}
