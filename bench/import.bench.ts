/**
 * `limitr usage import` against the plain import script (bench/plain-import.ts:
 * gunzip + readline + JSON.parse per line + a batched prepared INSERT of the
 * same rows into the same schema), rounds alternating, each import in a fresh
 * process of the compiled build so that every one pays its own start-up,
 * module loading and (for limitr) worker thread.
 *
 *   npx tsx bench/import.bench.ts          BENCH_IMPORT_EVENTS=300000 for a quicker run
 *
 * Per import it records wall seconds, CPU seconds of the whole process (every
 * thread: the importing thread, the parse worker, zlib and GC), and CPU seconds
 * of the main thread alone (/proc/self/task/<pid>/stat: the critical path when
 * parsing runs in the worker). The figures are medians over the rounds:
 * - import_events_s / plain_events_s: events per wall second of a 1M-event
 *   .ndjson.gz (the example policy's generated usage), and import_vs_plain, their ratio;
 * - import_cpu_s / plain_cpu_s, import_main_cpu_s / plain_main_cpu_s, cpu_ratio;
 * - import_thread_events_s: limitr with the worker off (everything in one thread);
 * - import_rollups_events_s: limitr into a store where the example policy's rollups are registered
 *   (each batch also folds its new rows into them, in its transaction, on the importing thread);
 * - import_csv_events_s: the same events as .csv.gz (limitr only: CSV has no plain baseline here);
 * - load_avg: /proc/loadavg at the start and end (the machine is shared: wall figures move with it).
 * Ends with one JSON line: {"bench":"import","results":{...}}.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateUsage, root } from "./generate.js";

const events = Number(process.env.BENCH_IMPORT_EVENTS ?? 1_000_000);
const rounds = Number(process.env.BENCH_IMPORT_ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), "limitr-import-bench-"));
const log = (line: string) => process.stderr.write(`[import bench] ${line}\n`);
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

try {
  execFileSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-b", "src/engine", "src/cli"],
    { cwd: root, stdio: "ignore" },
  );
} catch {
  log("tsc reported errors; benchmarking the emitted build anyway");
}

interface Run {
  rows: number;
  wall: number;
  cpu: number;
  mainCpu: number;
}

/** One import in a fresh process: "limitr" (the CLI's importFiles), "thread" (its worker off), or "plain". */
function importInChild(kind: "limitr" | "thread" | "plain" | "rollups", file: string): Run {
  const db = join(dir, `${kind}.db`);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(db + suffix, { force: true });
  const dist = join(root, "src/engine/dist");
  const code = `
    import { readFileSync } from "node:fs";
    const tick = 100; // USER_HZ
    const mainCpu = () => {
      const s = readFileSync("/proc/self/task/" + process.pid + "/stat", "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      return (Number(f[11]) + Number(f[12])) / tick;
    };
    const { openDatabase } = await import(${JSON.stringify(join(dist, "adapters/store/database.js"))});
    const db = openDatabase(${JSON.stringify(db)}, { create: true });
    if (${JSON.stringify(kind)} === "rollups") {
      const { registerRollups } = await import(${JSON.stringify(join(dist, "adapters/store/rollups.js"))});
      const { loadValidPolicy } = await import(${JSON.stringify(join(dist, "adapters/policy-source.js"))});
      const { ratingMeters } = await import(${JSON.stringify(join(dist, "core/credits/rating.js"))});
      const policy = loadValidPolicy(${JSON.stringify(join(root, "policies"))});
      registerRollups(db, ratingMeters(policy), policy.timezone);
    }
    const m0 = mainCpu(); const c0 = process.cpuUsage(); const t0 = performance.now();
    let rows;
    if (${JSON.stringify(kind)} === "plain") {
      const { plainImport } = await import(${JSON.stringify(join(root, "bench/plain-import.ts"))});
      rows = await plainImport(${JSON.stringify(file)}, db);
    } else {
      const { importFiles } = await import(${JSON.stringify(join(root, "src/cli/dist/adapters/usage-files/import-events.js"))});
      const { SqliteUsageStore } = await import(${JSON.stringify(join(dist, "adapters/store/sqlite-usage-store.js"))});
      const store = new SqliteUsageStore(db);
      const s = await importFiles(store, [${JSON.stringify(file)}], { zone: "America/New_York", strict: false, onProblem: () => {} });
      rows = s.imported;
      // As the CLI does: the store's close waits for its last checkpoint.
      await store.close();
    }
    if (db.open) db.close();
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    console.log(JSON.stringify({ rows, wall, cpu: (c.user + c.system) / 1e6, mainCpu: mainCpu() - m0 }));
  `;
  const env = { ...process.env };
  if (kind === "thread") env.LIMITR_IMPORT_WORKER_MIN_BYTES = "1e18";
  else delete env.LIMITR_IMPORT_WORKER_MIN_BYTES;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: root,
    encoding: "utf8",
    env,
  });
  const run = JSON.parse(out.trim().split("\n").pop() as string) as Run;
  for (const suffix of ["", "-wal", "-shm"]) rmSync(db + suffix, { force: true });
  log(
    `${kind} ${file.split("/").pop()}: ${run.rows} rows, ${run.wall.toFixed(2)}s wall, ${run.cpu.toFixed(2)}s CPU (main thread ${run.mainCpu.toFixed(2)}s), load ${load()}`,
  );
  if (run.rows !== events) throw new Error(`${kind} imported ${run.rows} rows, expected ${events}`);
  return run;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

const loadBefore = load();
const gz = join(dir, "usage.ndjson.gz");
const csv = join(dir, "usage.csv.gz");
log(`generated ${events} events in ${generateUsage(gz, events, 11).toFixed(1)}s`);
log(`generated ${events} events in ${generateUsage(csv, events, 11).toFixed(1)}s (CSV)`);

const runs: Record<"limitr" | "thread" | "plain" | "csv" | "rollups", Run[]> = {
  limitr: [],
  thread: [],
  plain: [],
  csv: [],
  rollups: [],
};
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so neither always meets the same moment of the machine.
  const pair = r % 2 === 0 ? (["plain", "limitr"] as const) : (["limitr", "plain"] as const);
  const got: Partial<Record<"limitr" | "plain", Run>> = {};
  for (const kind of pair) {
    const run = importInChild(kind, gz);
    got[kind] = run;
    runs[kind].push(run);
  }
  ratios.push((got.plain as Run).wall / (got.limitr as Run).wall);
  runs.thread.push(importInChild("thread", gz));
  runs.csv.push(importInChild("limitr", csv));
  runs.rollups.push(importInChild("rollups", gz));
}
rmSync(dir, { recursive: true, force: true });

const rate = (rs: Run[]) => Math.round(events / median(rs.map((r) => r.wall)));
const cpu = (rs: Run[]) => round(median(rs.map((r) => r.cpu)), 2);
const mainCpu = (rs: Run[]) => round(median(rs.map((r) => r.mainCpu)), 2);
console.log(
  JSON.stringify({
    bench: "import",
    results: {
      events,
      rounds,
      import_events_s: rate(runs.limitr),
      plain_events_s: rate(runs.plain),
      import_vs_plain: round(median(ratios), 2),
      import_vs_plain_per_round: ratios.map((x) => round(x, 2)),
      import_cpu_s: cpu(runs.limitr),
      plain_cpu_s: cpu(runs.plain),
      cpu_ratio: round(cpu(runs.plain) / cpu(runs.limitr), 2),
      import_main_cpu_s: mainCpu(runs.limitr),
      plain_main_cpu_s: mainCpu(runs.plain),
      import_events_per_main_cpu_s: Math.round(events / mainCpu(runs.limitr)),
      import_thread_events_s: rate(runs.thread),
      import_thread_cpu_s: cpu(runs.thread),
      import_rollups_events_s: rate(runs.rollups),
      import_rollups_cpu_s: cpu(runs.rollups),
      import_rollups_main_cpu_s: mainCpu(runs.rollups),
      import_csv_events_s: rate(runs.csv),
      import_csv_cpu_s: cpu(runs.csv),
      import_csv_main_cpu_s: mainCpu(runs.csv),
      load_avg: `${loadBefore} -> ${load()}`,
    },
  }),
);
