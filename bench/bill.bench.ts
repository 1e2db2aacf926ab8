/**
 * Usage import and `bill` throughput against raw SQLite baselines.
 *
 *   npm run bench                       (all suites)  or  npx tsx bench/bill.bench.ts
 *   BENCH_LARGE=2000000 npx tsx bench/bill.bench.ts   (a smaller "10M" set while developing)
 *
 * Generates 1M and 10M events for the example policy into a temp dir (seeded),
 * imports both through the same code path as `limitr usage import`, then:
 * - import_events_s: events/s of the large import (a new store: no rollups registered yet);
 * - import_1m_events_s / import_1m_rollups_events_s: the 1M import into a new store, and into one
 *   where the policy's rollups are registered (each batch also folds its new rows into them);
 * - raw_insert_rows_s: rows/s of a plain better-sqlite3 batched INSERT of the same 1M rows
 *   (pre-parsed, same table and indexes) into an empty store;
 * - plain_import_1m_events_s / import_1m_vs_plain: the plain import script (bench/plain-import.ts:
 *   readline + JSON.parse + batched prepared insert) on the same 1M file, in this process, and the
 *   ratio of import_1m_events_s to it (wall clock; bench/import.bench.ts measures this in depth);
 * - bill_1m_s / bill_10m_s: seconds to bill October (rate + render JSON), each in a fresh
 *   child process that also reports its peak RSS;
 * - raw_groupby_10m_s: `SELECT customer, SUM(value) FROM events GROUP BY customer` on the 10M store;
 * - bill_10m_scan_s: the bill scanning events (LIMITR_ROLLUPS=off), the path rollups replace;
 * - rollup_build_10m_s: one-time build of the policy's rollups from the 10M events (rebuildRollups);
 * - duckdb_load_10m_s / duckdb_query_10m_s / bill_10m_vs_duckdb: the optional DuckDB reference
 *   (bench/duckdb-reference.ts; null when @duckdb/node-api is not installed): every meter's aggregation
 *   of October in one query over the same events (JSON properties, then typed columns extracted
 *   once), and the bill's ratio to each query;
 * - bill_10m_s: the bill reading rollups (percentage `free_events` too: the rollups keep each day's first
 *   events); bill_10m_vs_raw_groupby: its ratio to raw_groupby_10m_s; then the bill and the GROUP BY
 *   once more (bill_10m_again_s, raw_groupby_10m_again_s), interleaved, and their ratio.
 * Ends with one JSON line: {"bench":"bill","results":{...}}.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { duckdbReference } from "./duckdb-reference.js";
import { generateUsage } from "./generate.js";
import { plainImport } from "./plain-import.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "limitr-bench-"));
const large = Number(process.env.BENCH_LARGE ?? 10_000_000);
const log = (line: string) => process.stderr.write(`[bill bench] ${line}\n`);

function generate(events: number, seed: number): string {
  const file = join(dir, `${events}.ndjson`);
  log(`generated ${events} events in ${generateUsage(file, events, seed).toFixed(1)}s`);
  return file;
}

// The compiled build, as the CLI runs it (worker threads load compiled files).
const dist = join(root, "src/engine/dist");
const cliDist = join(root, "src/cli/dist");
type DatabaseModule = typeof import("../src/engine/adapters/store/database.js");
type ImportModule = typeof import("../src/cli/adapters/usage-files/import-events.js");

/** The example policy, loaded by the compiled build. */
async function examplePolicy() {
  const { loadValidPolicy } = (await import(
    join(dist, "adapters/policy-source.js")
  )) as typeof import("../src/engine/adapters/policy-source.js");
  return loadValidPolicy(join(root, "policies"));
}

async function importInto(file: string, db: string, withRollups = false): Promise<number> {
  const { openDatabase } = (await import(join(dist, "adapters/store/database.js"))) as DatabaseModule;
  const { importFiles } = (await import(
    join(cliDist, "adapters/usage-files/import-events.js")
  )) as ImportModule;
  const store = openDatabase(db, { create: true });
  if (withRollups) {
    const { firstEventsWanted, registerRollups } = (await import(
      join(dist, "adapters/store/rollups.js")
    )) as typeof import("../src/engine/adapters/store/rollups.js");
    const { ratingMeters } = (await import(
      join(dist, "core/credits/rating.js")
    )) as typeof import("../src/engine/core/credits/rating.js");
    const policy = await examplePolicy();
    // As a first bill registers them: with the first events percentage free_events needs.
    registerRollups(store, ratingMeters(policy), policy.timezone, firstEventsWanted(policy));
  }
  const { SqliteUsageStore } = (await import(
    join(dist, "adapters/store/sqlite-usage-store.js")
  )) as typeof import("../src/engine/adapters/store/sqlite-usage-store.js");
  const t = performance.now();
  const summary = await importFiles(new SqliteUsageStore(store), [file], {
    zone: "America/New_York",
    strict: false,
    onProblem: () => {},
  });
  const seconds = (performance.now() - t) / 1000;
  store.close();
  log(`imported ${summary.imported} events in ${seconds.toFixed(1)}s`);
  return summary.imported / seconds;
}

async function rawInsert(file: string): Promise<number> {
  const { openDatabase } = (await import(join(dist, "adapters/store/database.js"))) as DatabaseModule;
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const e = JSON.parse(line) as {
        id: string;
        type: string;
        customer: string;
        timestamp: string;
        properties: unknown;
      };
      return [e.id, e.type, e.customer, Date.parse(e.timestamp), null, JSON.stringify(e.properties)] as const;
    });
  const store = openDatabase(join(dir, "raw.db"), { create: true });
  const insert = store.prepare(
    "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const batch = store.transaction((rs: (typeof rows)[number][]) => {
    for (const r of rs) insert.run(...r);
  });
  const t = performance.now();
  for (let i = 0; i < rows.length; i += 5000) batch(rows.slice(i, i + 5000));
  const seconds = (performance.now() - t) / 1000;
  store.close();
  return rows.length / seconds;
}

/**
 * Bill in a fresh process (dist build): wall seconds of load + rate + render, and that process's
 * peak RSS. `scan`: with rollups off (the events are scanned). `build`: only (re)build the rollups.
 */
function billInChild(
  db: string,
  mode: "rollups" | "scan" | "build" = "rollups",
): { seconds: number; rssMb: number } {
  const code = `
    const { openDatabase } = await import(${JSON.stringify(join(dist, "adapters/store/database.js"))});
    const { loadValidPolicy } = await import(${JSON.stringify(join(dist, "adapters/policy-source.js"))});
    const { runBill } = await import(${JSON.stringify(join(dist, "adapters/store/bill-run.js"))});
    const { billJson } = await import(${JSON.stringify(join(cliDist, "commands/bill-render.js"))});
    const { parsePeriod } = await import(${JSON.stringify(join(dist, "core/periods.js"))});
    const { SqliteUsageStore } = await import(${JSON.stringify(join(dist, "adapters/store/sqlite-usage-store.js"))});
    const t = performance.now();
    const policy = loadValidPolicy(${JSON.stringify(join(root, "policies"))});
    const db = openDatabase(${JSON.stringify(db)});
    if (${JSON.stringify(mode)} === "build") {
      const r = await new SqliteUsageStore(db).rebuildRollups(policy);
      const seconds = (performance.now() - t) / 1000;
      const rows = db.prepare("SELECT COUNT(*) FROM rollups").pluck().get();
      const values = db.prepare("SELECT COUNT(*) FROM rollup_values").pluck().get();
      const firsts = db.prepare("SELECT COUNT(*) FROM rollup_firsts").pluck().get();
      db.close();
      console.log(JSON.stringify({ seconds, rssMb: process.resourceUsage().maxRSS / 1024, ...r, rows, values, firsts }));
      process.exit(0);
    }
    const store = new SqliteUsageStore(db, { rollups: ${JSON.stringify(mode)} === "rollups" });
    const bill = await runBill(store, policy, parsePeriod("2026-10", policy.timezone), { recordCredits: false });
    const json = JSON.stringify(billJson(bill, policy.timezone));
    const seconds = (performance.now() - t) / 1000;
    db.close();
    console.log(JSON.stringify({ seconds, rssMb: process.resourceUsage().maxRSS / 1024, invoices: bill.invoices.length, bytes: json.length, digest: (await import("node:crypto")).createHash("sha256").update(json).digest("hex") }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], {
    cwd: root,
    encoding: "utf8",
  });
  const result = JSON.parse(out.trim().split("\n").pop() as string);
  log(`${mode} ${db}: ${out.trim().split("\n").pop()}`);
  return result;
}

function rawGroupBy(db: string): number {
  const store = new Database(db, { readonly: true });
  const t = performance.now();
  store.prepare("SELECT customer, SUM(value) FROM events GROUP BY customer").all();
  const seconds = (performance.now() - t) / 1000;
  store.close();
  return seconds;
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));

try {
  execFileSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-b", "src/engine", "src/cli"],
    { cwd: root, stdio: "ignore" },
  );
} catch {
  log("tsc reported errors; benchmarking the emitted build anyway");
}
const small = generate(1_000_000, 11);
const smallDb = join(dir, "1m.db");
const import1m = await importInto(small, smallDb);
const import1mRollups = await importInto(small, join(dir, "1m-rollups.db"), true);
rmSync(join(dir, "1m-rollups.db"));
const plainRate = await (async () => {
  const { openDatabase } = (await import(join(dist, "adapters/store/database.js"))) as DatabaseModule;
  const db = openDatabase(join(dir, "plain.db"), { create: true });
  const t = performance.now();
  const rows = await plainImport(small, db);
  const seconds = (performance.now() - t) / 1000;
  db.close();
  rmSync(join(dir, "plain.db"));
  log(`plain import script: ${rows} events in ${seconds.toFixed(1)}s`);
  return rows / seconds;
})();
const rawRate = await rawInsert(small);
log(`raw insert ${Math.round(rawRate)} rows/s`);
const bill1 = billInChild(smallDb);
log(`bill 1M: ${bill1.seconds.toFixed(2)}s, peak RSS ${bill1.rssMb.toFixed(0)} MB`);
rmSync(small);

const big = generate(large, 12);
const bigDb = join(dir, "10m.db");
const importRate = await importInto(big, bigDb);
const duck = await (async () => {
  const { parsePeriod } = (await import(
    join(dist, "core/periods.js")
  )) as typeof import("../src/engine/core/periods.js");
  const policy = await examplePolicy();
  const october = parsePeriod("2026-10", policy.timezone) as { start: number; end: number };
  return duckdbReference(
    big,
    policy.meters ?? {},
    { from: new Date(october.start), to: new Date(october.end) },
    log,
  );
})();
rmSync(big);
const scan10 = billInChild(bigDb, "scan");
log(`bill ${large} (scan): ${scan10.seconds.toFixed(2)}s, peak RSS ${scan10.rssMb.toFixed(0)} MB`);
const build10 = billInChild(bigDb, "build");
log(`rollup build ${large}: ${build10.seconds.toFixed(2)}s, peak RSS ${build10.rssMb.toFixed(0)} MB`);
const bill10 = billInChild(bigDb);
log(`bill ${large} (rollups): ${bill10.seconds.toFixed(2)}s, peak RSS ${bill10.rssMb.toFixed(0)} MB`);
const raw10 = rawGroupBy(bigDb);
log(`raw GROUP BY ${large}: ${raw10.toFixed(2)}s`);
const bill10again = billInChild(bigDb);
// Interleaved: bill, GROUP BY, bill, GROUP BY (the machine is shared; each ratio pairs neighbours).
const raw10again = rawGroupBy(bigDb);
log(`raw GROUP BY ${large} again: ${raw10again.toFixed(2)}s`);
const digest = (r: object) => (r as { digest?: string }).digest;
if (digest(bill10) !== digest(scan10) || digest(bill10again) !== digest(scan10))
  throw new Error("the bill from rollups differs from the scanned bill");
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: "bill",
    results: {
      import_events_s: Math.round(importRate),
      import_1m_events_s: Math.round(import1m),
      import_1m_rollups_events_s: Math.round(import1mRollups),
      plain_import_1m_events_s: Math.round(plainRate),
      import_1m_vs_plain: round(import1m / plainRate, 2),
      raw_insert_rows_s: Math.round(rawRate),
      bill_1m_s: round(bill1.seconds),
      bill_10m_s: round(bill10.seconds),
      raw_groupby_10m_s: round(raw10),
      bill_10m_peak_rss_mb: round(bill10.rssMb, 1),
      bill_10m_scan_s: round(scan10.seconds),
      bill_10m_scan_peak_rss_mb: round(scan10.rssMb, 1),
      rollup_build_10m_s: round(build10.seconds),
      rollup_build_peak_rss_mb: round(build10.rssMb, 1),
      bill_10m_again_s: round(bill10again.seconds),
      raw_groupby_10m_again_s: round(raw10again),
      bill_10m_vs_raw_groupby: round(bill10.seconds / raw10),
      bill_10m_again_vs_raw_groupby_again: round(bill10again.seconds / raw10again),
      duckdb_load_10m_s: duck ? round(duck.loadSeconds) : null,
      duckdb_query_10m_s: duck ? round(duck.querySeconds) : null,
      duckdb_typed_load_10m_s: duck ? round(duck.typedLoadSeconds) : null,
      duckdb_typed_query_10m_s: duck ? round(duck.typedQuerySeconds) : null,
      duckdb_threads: duck ? duck.threads : null,
      bill_10m_vs_duckdb: duck ? round(bill10.seconds / duck.querySeconds) : null,
      bill_10m_vs_duckdb_typed: duck ? round(bill10.seconds / duck.typedQuerySeconds) : null,
    },
  }),
);
