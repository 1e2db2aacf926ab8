/**
 * `limitr simulate` against `limitr bill` on the same store.
 *
 *   npm run bench  (all suites)  or  npx tsx bench/simulate.bench.ts
 *   BENCH_LARGE=2000000 npx tsx bench/simulate.bench.ts   (a smaller "10M" set while developing)
 *
 * Generates 1M and 10M events for the example policy (seeded, with plan
 * history), imports them through the `usage import` code path, and runs the
 * built CLI in a fresh process for each measurement (wall seconds, and that
 * process's peak RSS, worker threads included):
 * - simulate_1m_s / simulate_10m_s: `simulate --base HEAD --period 2026-10 --format json`,
 *   head = the work tree with pro's chat_input overage raised and free's chat_input limit lowered
 *   (the changed limit, and the limits its events tie to, are replayed);
 * - simulate_10m_full_replay_s: the same with `--full-replay` (every limit that can refuse replayed);
 * - simulate_10m_price_only_s: head = a commit that only raises pro's overage (nothing to replay);
 * - bill_10m_s: `bill --period 2026-10 --format json` on the large store (after simulate:
 *   bill records credits, simulate must find the store as imported).
 * Targets: simulate_10m_s within 3x bill_10m_s, peak RSS under 800 MB.
 * Ends with one JSON line: {"bench":"simulate","results":{...}}.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { importFiles } from "../src/cli/adapters/usage-files/import-events.js";
import { openDatabase } from "../src/engine/adapters/store/database.js";
import { SqliteUsageStore } from "../src/engine/adapters/store/sqlite-usage-store.js";
import { setPlans } from "../src/engine/adapters/store/usage-store.js";
import { parseInstant } from "../src/engine/core/periods.js";
import { generateUsage } from "./generate.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "limitr-simulate-bench-"));
const large = Number(process.env.BENCH_LARGE ?? 10_000_000);
const ZONE = "America/New_York";
const log = (line: string) => process.stderr.write(`[simulate bench] ${line}\n`);
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

function git(...args: string[]): void {
  execFileSync("git", args, { cwd: dir, stdio: "ignore" });
}

/** A policy repository: the example policy committed as the base, a pricing change left in the work tree. */
function makeRepo(): void {
  cpSync(join(root, "policies"), join(dir, "policies"), { recursive: true });
  writeFileSync(join(dir, ".gitignore"), "*.db*\n*.ndjson\n*.csv\n");
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git(
    "-c",
    "user.email=bench@example.com",
    "-c",
    "user.name=bench",
    "-c",
    "commit.gpgsign=false",
    "commit",
    "-q",
    "-m",
    "base",
  );
  const file = join(dir, "policies/plans.yaml");
  const original = readFileSync(file, "utf8");
  git("checkout", "-q", "-b", "prices");
  writeFileSync(file, original.replace("overage: 0.000003 ", "overage: 0.000004 "));
  git("-c", "user.email=bench@example.com", "-c", "user.name=bench", "commit", "-q", "-a", "-m", "prices");
  git("checkout", "-q", "main");
  const text = original
    .replace("overage: 0.000003 ", "overage: 0.000004 ")
    .replace("        limit: 100000\n        mode: hard", "        limit: 50000\n        mode: hard");
  writeFileSync(file, text);
}

async function dataset(events: number, seed: number): Promise<string> {
  const file = join(dir, `${events}.ndjson`);
  const plans = join(dir, `${events}.customers.csv`);
  log(`generated ${events} events in ${generateUsage(file, events, seed, plans).toFixed(1)}s`);
  let t = performance.now();
  const db = join(dir, `${events}.db`);
  const store = openDatabase(db, { create: true });
  t = performance.now();
  const summary = await importFiles(new SqliteUsageStore(store), [file], {
    zone: ZONE,
    strict: false,
    onProblem: () => {},
  });
  const rows = readFileSync(plans, "utf8").trim().split("\n").slice(1);
  setPlans(
    store,
    rows.map((line) => {
      const [customer = "", plan = "", at = ""] = line.split(",");
      return { customer, plan, at: parseInstant(at, ZONE) ?? 0 };
    }),
    Date.now(),
  );
  store.close();
  rmSync(file);
  log(
    `imported ${summary.imported} events and ${rows.length} plan changes in ${((performance.now() - t) / 1000).toFixed(1)}s`,
  );
  return db;
}

/** Run the built CLI in a fresh process: wall seconds, and its peak RSS written by a preloaded exit hook. */
function measured(args: string[]): { seconds: number; rssMb: number; stdout: string } {
  const rssFile = join(dir, "maxrss.txt");
  const hook = join(dir, "rss-hook.mjs");
  writeFileSync(
    hook,
    `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
  );
  const t = performance.now();
  const stdout = execFileSync(
    process.execPath,
    ["--import", hook, join(root, "src/cli/bin/limitr.js"), ...args],
    {
      cwd: dir,
      encoding: "utf8",
      maxBuffer: 1 << 28,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  const seconds = (performance.now() - t) / 1000;
  return { seconds, rssMb: Number(readFileSync(rssFile, "utf8")) / 1024, stdout };
}

try {
  execFileSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-b", "src/engine", "src/cli"],
    { cwd: root, stdio: "ignore" },
  );
} catch {
  log("tsc reported errors; benchmarking the emitted build anyway");
}
makeRepo();
const simulate = (db: string, ...more: string[]) =>
  measured(["--db", db, "simulate", "--base", "HEAD", "--period", "2026-10", "--format", "json", ...more]);

const smallDb = await dataset(1_000_000, 21);
const sim1 = simulate(smallDb);
const s1 = JSON.parse(sim1.stdout).totals;
log(
  `simulate 1M: ${sim1.seconds.toFixed(2)}s, peak RSS ${sim1.rssMb.toFixed(0)} MB (change ${s1.revenue_change}, denied ${s1.base_denied} -> ${s1.head_denied})`,
);
rmSync(smallDb, { force: true });

const bigDb = await dataset(large, 22);
const sim10 = simulate(bigDb);
const s10 = JSON.parse(sim10.stdout).totals;
log(
  `simulate ${large}: ${sim10.seconds.toFixed(2)}s, peak RSS ${sim10.rssMb.toFixed(0)} MB (change ${s10.revenue_change}, denied ${s10.base_denied} -> ${s10.head_denied})`,
);
const full10 = simulate(bigDb, "--full-replay");
log(`simulate ${large} --full-replay: ${full10.seconds.toFixed(2)}s`);
const prices10 = simulate(bigDb, "--head", "prices");
const p10 = JSON.parse(prices10.stdout);
log(
  `simulate ${large}, prices only: ${prices10.seconds.toFixed(2)}s (change ${p10.totals.revenue_change}, not replayed: ${p10.not_replayed.length})`,
);
const bill10 = measured(["--db", bigDb, "bill", "--period", "2026-10", "--format", "json"]);
log(
  `bill ${large}: ${bill10.seconds.toFixed(2)}s, peak RSS ${bill10.rssMb.toFixed(0)} MB; simulate/bill = ${(sim10.seconds / bill10.seconds).toFixed(2)}`,
);
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: "simulate",
    results: {
      simulate_1m_s: round(sim1.seconds),
      simulate_10m_s: round(sim10.seconds),
      simulate_10m_full_replay_s: round(full10.seconds),
      simulate_10m_price_only_s: round(prices10.seconds),
      bill_10m_s: round(bill10.seconds),
      simulate_to_bill: round(sim10.seconds / bill10.seconds, 2),
      simulate_price_only_to_bill: round(prices10.seconds / bill10.seconds, 2),
      full_replay_to_bill: round(full10.seconds / bill10.seconds, 2),
      peak_rss_mb: Math.round(Math.max(sim1.rssMb, sim10.rssMb)),
    },
  }),
);
