/**
 * Usage import and `bill` throughput against raw SQLite baselines.
 *
 *   npm run bench                       (all suites)  or  npx tsx bench/bill.bench.ts
 *   BENCH_LARGE=2000000 npx tsx bench/bill.bench.ts   (a smaller "10M" set while developing)
 *
 * Generates 1M and 10M events for the example policy into a temp dir (seeded),
 * imports both through the same code path as `limitr usage import`, then:
 * - import_events_s: events/s of the large import;
 * - raw_insert_rows_s: rows/s of a plain better-sqlite3 batched INSERT of the same 1M rows
 *   (pre-parsed, same table and indexes) into an empty store;
 * - bill_1m_s / bill_10m_s: seconds to bill October (rate + render JSON), each in a fresh
 *   child process that also reports its peak RSS;
 * - raw_groupby_10m_s: `SELECT customer, SUM(value) FROM events GROUP BY customer` on the 10M store.
 * Ends with one JSON line: {"bench":"bill","results":{...}}.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { generateUsage } from "./generate.js";

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

async function importInto(file: string, db: string): Promise<number> {
  const { openDatabase } = (await import(join(dist, "adapters/store/database.js"))) as DatabaseModule;
  const { importFiles } = (await import(
    join(cliDist, "adapters/usage-files/import-events.js")
  )) as ImportModule;
  const store = openDatabase(db);
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
  const store = openDatabase(join(dir, "raw.db"));
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

/** Bill in a fresh process (dist build): wall seconds of load + rate + render, and that process's peak RSS. */
function billInChild(db: string): { seconds: number; rssMb: number } {
  const code = `
    const { openDatabase } = await import(${JSON.stringify(join(dist, "adapters/store/database.js"))});
    const { loadValidPolicy } = await import(${JSON.stringify(join(dist, "adapters/policy-source.js"))});
    const { runBill } = await import(${JSON.stringify(join(dist, "adapters/store/bill-run.js"))});
    const { billJson } = await import(${JSON.stringify(join(cliDist, "commands/bill-render.js"))});
    const { parsePeriod } = await import(${JSON.stringify(join(dist, "core/periods.js"))});
    const t = performance.now();
    const policy = loadValidPolicy(${JSON.stringify(join(root, "policies"))});
    const db = openDatabase(${JSON.stringify(db)});
    const bill = await runBill(db, policy, parsePeriod("2026-10", policy.timezone), { recordCredits: false });
    const json = JSON.stringify(billJson(bill, policy.timezone));
    const seconds = (performance.now() - t) / 1000;
    db.close();
    console.log(JSON.stringify({ seconds, rssMb: process.resourceUsage().maxRSS / 1024, invoices: bill.invoices.length, bytes: json.length }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], {
    cwd: root,
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop() as string);
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
await importInto(small, smallDb);
const rawRate = await rawInsert(small);
log(`raw insert ${Math.round(rawRate)} rows/s`);
const bill1 = billInChild(smallDb);
log(`bill 1M: ${bill1.seconds.toFixed(2)}s, peak RSS ${bill1.rssMb.toFixed(0)} MB`);
rmSync(small);

const big = generate(large, 12);
const bigDb = join(dir, "10m.db");
const importRate = await importInto(big, bigDb);
rmSync(big);
const bill10 = billInChild(bigDb);
log(`bill ${large}: ${bill10.seconds.toFixed(2)}s, peak RSS ${bill10.rssMb.toFixed(0)} MB`);
const raw10 = rawGroupBy(bigDb);
log(`raw GROUP BY ${large}: ${raw10.toFixed(2)}s`);
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: "bill",
    results: {
      import_events_s: Math.round(importRate),
      raw_insert_rows_s: Math.round(rawRate),
      bill_1m_s: round(bill1.seconds),
      bill_10m_s: round(bill10.seconds),
      raw_groupby_10m_s: round(raw10),
      bill_10m_peak_rss_mb: round(bill10.rssMb, 1),
    },
  }),
);
