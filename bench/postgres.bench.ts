/**
 * The Postgres store against the database's own fast paths, on the same rows
 * and tables, each ratio from interleaved rounds of the same run (best of each):
 * - import: the store's batches (COPY into a staging table, then `INSERT ...
 *   SELECT`: without ON CONFLICT in a savepoint while the ids are new, with
 *   `ON CONFLICT DO NOTHING` once one is known), with the policy's rollups registered
 *   (folded in the same statement) and without any, vs a raw `COPY` of the
 *   same rows in one go into an identical table (same columns and indexes),
 *   BENCH_PG_ROUNDS rounds (3), each into empty tables; then multi-row
 *   `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING` (the
 *   alternative) and the whole `usage import` path of already-known ids;
 * - bill: the store's daily usage (what `bill` reads) from the rollups, and
 *   aggregated from the events on values extracted at import and on the JSON
 *   only (events imported before the policy read them), and the whole bill
 *   (rating included), vs a raw `GROUP BY customer, type, day` over the same
 *   events table (seven interleaved rounds; the raw query gets the settings
 *   the store's own aggregations run with).
 *
 *   npx tsx bench/postgres.bench.ts    (or BENCH_ONLY=postgres npm run bench)
 *
 * Needs a server: LIMITR_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test);
 * everything lives in a random schema dropped at the end. Without a server
 * the suite prints a `skipped` line. BENCH_PG_EVENTS sets the size (200,000).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { importFiles } from "../src/cli/adapters/usage-files/import-events.js";
import { parsedBatches } from "../src/cli/adapters/usage-files/parsed-batches.js";
import { loadPolicy } from "../src/cli/commands/usage-common.js";
import { runBill } from "../src/engine/adapters/store/bill-run.js";
import { dailyData } from "../src/engine/adapters/store/postgres/aggregate.js";
import { JSON_ONLY } from "../src/engine/adapters/store/postgres/layouts.js";
import { openPostgresStore } from "../src/engine/adapters/store/postgres/store.js";
import { parsePeriod } from "../src/engine/core/periods.js";
import type { UsageEvent } from "../src/engine/core/usage/event.js";
import { generateUsage, root } from "./generate.js";

const BASE = process.env.LIMITR_BENCH_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const EVENTS = Number(process.env.BENCH_PG_EVENTS ?? 200_000);
const ZONE = "America/New_York";
const BATCH = 5000;
/** Rounds of each import and of each read (interleaved, best of each). */
const ROUNDS = Number(process.env.BENCH_PG_ROUNDS ?? 3);
const READ_ROUNDS = 7;
const log = (m: string) => process.stderr.write(`postgres: ${m}\n`);
const round = (x: number, d = 3) => Number(x.toFixed(d));
const time = async (work: () => Promise<unknown>) => {
  const t = performance.now();
  await work();
  return (performance.now() - t) / 1000;
};
const best = async (work: () => Promise<unknown>, runs = 3) => {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) min = Math.min(min, await time(work));
  return min;
};

const schema = `limitr_bench_${randomBytes(5).toString("hex")}`;
const admin = new pg.Client({ connectionString: BASE });
try {
  await admin.connect();
} catch (err) {
  console.log(
    JSON.stringify({ bench: "postgres", skipped: `no server at ${BASE}: ${(err as Error).message}` }),
  );
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "limitr-bench-pg-"));
const file = join(dir, "events.ndjson");
log(`generated ${EVENTS} events in ${generateUsage(file, EVENTS, 3).toFixed(1)}s`);
const events: UsageEvent[] = [];
for await (const b of parsedBatches(file, ZONE)) events.push(...b.events);

/** The same rows as COPY text: tab-separated, \N for NULL, backslashes escaped. */
const copyText = (rows: UsageEvent[]) =>
  rows
    .map((e) =>
      [e.id, e.type, e.customer, String(e.ts), e.value === null ? null : String(e.value), e.properties]
        .map((v) =>
          v === null ? "\\N" : v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n"),
        )
        .join("\t"),
    )
    .join("\n")
    .concat("\n");

const copy = (client: pg.Client, table: string) =>
  pipeline(
    Readable.from([copyText(events)]),
    client.query(copyFrom(`COPY ${table} (id, type, customer, ts, value, properties) FROM STDIN`)),
  );

try {
  // The store's schema, created by its own migrations; a twin table for the raw COPY.
  const store = await openPostgresStore(`${BASE}?schema=${schema}`, { create: true });
  await admin.query(`SET search_path = ${schema}`);
  await admin.query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)");
  const policy = loadPolicy({ policies: join(root, "policies") }, { cwd: root, warn: () => {} } as never);
  const period = parsePeriod("2026-10", policy.timezone);
  if (!period) throw new Error("bad period");
  await store.extractFor(policy);

  // The same import into a twin store without rollups (none registered): what folding costs.
  const plain = await openPostgresStore(`${BASE}?schema=${schema}_plain`, { create: true });
  plain.useRollups = false;
  await plain.extractFor(policy);
  // `extractFor` registered the policy's rollups on the empty store (a first bill would too): the import folds into them.
  await store.dailyUsage(policy, period);
  const importInto = (s: typeof store) =>
    time(async () => {
      for (let i = 0; i < events.length; i += BATCH) await s.insertEvents(events.slice(i, i + BATCH));
    });
  // Interleaved rounds, best of each, every one into empty tables (the rollups stay registered).
  const imports = { store: [] as number[], plain: [] as number[], raw: [] as number[] };
  const steps = [
    async () => {
      await admin.query(`TRUNCATE ${schema}.events, ${schema}.rollups, ${schema}.rollup_values`);
      imports.store.push(await importInto(store));
    },
    async () => {
      await admin.query(`TRUNCATE ${schema}_plain.events`);
      imports.plain.push(await importInto(plain));
    },
    async () => {
      await admin.query("TRUNCATE raw_events");
      imports.raw.push(await time(() => copy(admin, "raw_events")));
    },
  ];
  // The order turns each round (a checkpoint or a neighbour's load lands on a different one);
  // each step empties only its own tables, so the store holds every event for the reads below.
  for (let round = 0; round < ROUNDS; round++)
    for (let k = 1; k <= steps.length; k++)
      await (steps[(round + k) % steps.length] as () => Promise<void>)();
  await plain.close();
  const insert = Math.min(...imports.store);
  const insertPlain = Math.min(...imports.plain);
  const rawCopy = Math.min(...imports.raw);
  log(
    `store import without rollups (COPY to staging + INSERT, batches of 5,000): ${(EVENTS / insertPlain).toFixed(0)} events/s`,
  );
  log(
    `store import folding into the ${Object.keys(policy.meters).length} meters' rollups: ${(EVENTS / insert).toFixed(0)} events/s`,
  );
  log(`raw COPY: ${(EVENTS / rawCopy).toFixed(0)} rows/s`);
  log(
    `import / raw COPY per round: ${imports.store.map((t, i) => ((imports.raw[i] as number) / t).toFixed(2)).join(", ")}`,
  );
  await admin.query("TRUNCATE raw_events");
  const unnest = await time(async () => {
    for (let i = 0; i < events.length; i += BATCH) {
      const b = events.slice(i, i + BATCH);
      await admin.query(
        `INSERT INTO raw_events (id, type, customer, ts, value, properties)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::jsonb[])
         ON CONFLICT (id) DO NOTHING`,
        [
          b.map((e) => e.id),
          b.map((e) => e.type),
          b.map((e) => e.customer),
          b.map((e) => e.ts),
          b.map((e) => e.value),
          b.map((e) => e.properties),
        ],
      );
    }
  });
  log(
    `multi-row INSERT ... FROM unnest ON CONFLICT, batches of 5,000: ${(EVENTS / unnest).toFixed(0)} rows/s`,
  );

  // The whole `usage import` path (file parsing included), into a store already holding every id.
  const reimport = await time(() =>
    importFiles(store, [file], { zone: ZONE, strict: false, batchSize: BATCH, onProblem: () => {} }),
  );
  log(`usage import of known ids (all duplicates): ${(EVENTS / reimport).toFixed(0)} events/s`);
  await admin.query("VACUUM ANALYZE events");
  await admin.query("VACUUM ANALYZE rollups");
  await admin.query("VACUUM ANALYZE rollup_values");
  const fromEvents = async <T>(work: () => Promise<T>): Promise<T> => {
    store.useRollups = false;
    try {
      return await work();
    } finally {
      store.useRollups = true;
    }
  };
  // The raw queries get the settings the store's aggregations run with (hash groups, no JIT).
  await admin.query("SET work_mem = '64MB'");
  await admin.query("SET jit = off");
  await admin.query("SET enable_sort = off");
  // Interleaved rounds, best of each: on a shared machine the load moves between runs.
  const rounds = {
    rollups: [] as number[],
    aggregate: [] as number[],
    json: [] as number[],
    raw: [] as number[],
    figures: [] as number[],
    bill: [] as number[],
  };
  for (let i = 0; i < READ_ROUNDS; i++) {
    rounds.rollups.push(await time(() => store.dailyUsage(policy, period)));
    rounds.aggregate.push(await time(() => fromEvents(() => store.dailyUsage(policy, period))));
    rounds.json.push(await time(() => dailyData(store.pool, JSON_ONLY, policy, period)));
    rounds.raw.push(
      await time(() =>
        admin.query(
          `SELECT customer, type, (ts - $1) / 86400000 AS day, COUNT(*), SUM(value)
           FROM events WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2, 3`,
          [period.start, period.end],
        ),
      ),
    );
    // The same figures the bill needs, written by hand over the extracted columns: its lower bound.
    rounds.figures.push(
      await time(() =>
        admin.query(
          `SELECT customer, type, (ts - $1) / 86400000 AS day, t1, COUNT(*), MAX(ts), SUM(COALESCE(value, 1)), SUM(n1), SUM(n2)
           FROM events WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2, 3, 4`,
          [period.start, period.end],
        ),
      ),
    );
    // The whole bill (rating included) from the rollups.
    rounds.bill.push(await time(() => runBill(store, policy, period, { recordCredits: false })));
  }
  const rollups = Math.min(...rounds.rollups);
  const bill = Math.min(...rounds.bill);
  const aggregate = Math.min(...rounds.aggregate);
  const fromJson = Math.min(...rounds.json);
  const rawGroupBy = Math.min(...rounds.raw);
  const rawFigures = Math.min(...rounds.figures);
  log(`bill daily usage from the rollups: ${rollups.toFixed(3)}s`);
  log(`bill aggregation from the events (daily cells, one pass, extracted values): ${aggregate.toFixed(3)}s`);
  log(`bill aggregation reading every value from the JSON (fallback path): ${fromJson.toFixed(3)}s`);
  log(`raw GROUP BY customer, type, day: ${rawGroupBy.toFixed(3)}s`);
  log(
    `raw GROUP BY customer, type, day, t1 of the same figures (extracted columns): ${rawFigures.toFixed(3)}s`,
  );
  const billEvents = await fromEvents(() =>
    best(() => runBill(store, policy, period, { recordCredits: false })),
  );
  log(`whole bill: ${bill.toFixed(3)}s from the rollups, ${billEvents.toFixed(3)}s from the events`);
  const rollupRows = await admin.query<{ n: string }>(
    "SELECT (SELECT COUNT(*) FROM rollups) + (SELECT COUNT(*) FROM rollup_values) AS n",
  );
  const bytes = await admin.query<{ table: string; total: string }>(
    "SELECT pg_table_size('events') AS table, pg_total_relation_size('events') AS total",
  );
  const perEvent = (b: string | undefined) => Math.round(Number(b) / EVENTS);
  log(
    `storage: ${perEvent(bytes.rows[0]?.table)} bytes/event in the table, ${perEvent(bytes.rows[0]?.total)} with indexes`,
  );
  await store.close();

  console.log(
    JSON.stringify({
      bench: "postgres",
      results: {
        events: EVENTS,
        loadavg: loadavg().map((x) => round(x, 2)),
        import_rounds: ROUNDS,
        insert_events_s: Math.round(EVENTS / insert),
        insert_no_rollups_events_s: Math.round(EVENTS / insertPlain),
        raw_copy_rows_s: Math.round(EVENTS / rawCopy),
        insert_vs_copy: round(rawCopy / insert, 2),
        insert_no_rollups_vs_copy: round(rawCopy / insertPlain, 2),
        rollup_rows: Number(rollupRows.rows[0]?.n),
        unnest_insert_rows_s: Math.round(EVENTS / unnest),
        usage_import_duplicates_events_s: Math.round(EVENTS / reimport),
        bill_rollups_s: round(rollups),
        rollups_vs_groupby: round(rollups / rawGroupBy, 2),
        bill_aggregate_s: round(aggregate),
        bill_aggregate_json_s: round(fromJson),
        bill_s: round(bill),
        bill_vs_groupby: round(bill / rawGroupBy, 2),
        bill_from_events_s: round(billEvents),
        raw_groupby_s: round(rawGroupBy),
        aggregate_vs_groupby: round(aggregate / rawGroupBy, 2),
        json_aggregate_vs_groupby: round(fromJson / rawGroupBy, 2),
        raw_figures_groupby_s: round(rawFigures),
        aggregate_vs_figures_groupby: round(aggregate / rawFigures, 2),
        table_bytes_per_event: perEvent(bytes.rows[0]?.table),
        total_bytes_per_event: perEvent(bytes.rows[0]?.total),
      },
    }),
  );
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await admin.query(`DROP SCHEMA IF EXISTS ${schema}_plain CASCADE`).catch(() => {});
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
}
