/**
 * Cold start: how long a fresh process takes for `limitr --version`,
 * `limitr validate` on the example policy (policies/) and `Limitr.open` on it
 * with the memory store, each compared with a bare `node -e 0` measured in the
 * same run (the ratio is what counts; absolute figures move with the machine).
 *
 * Each case runs RUNS times (default 15) as a child process, round-robin so
 * that load on the machine spreads over every case alike. Figures are the
 * median CPU seconds (user + system of the child, read from the kernel's
 * account of waited-for children) and the best wall-clock seconds. Uses the
 * built CLI and engine (`npm run build` first). Ends with one JSON line:
 * {"bench":"startup","results":{...}}.
 *
 *   npx tsx bench/startup.bench.ts        (or BENCH_ONLY=startup npm run bench)
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "src/cli/bin/limitr.js");
const policies = join(root, "policies");
const engine = join(root, "src/engine/dist/index.js");
const RUNS = Number(process.env.STARTUP_RUNS ?? 15);

const CASES: Record<string, string[]> = {
  node: ["-e", "0"],
  version: [bin, "--version"],
  validate: [bin, "validate", "--policies", policies],
  open: [
    "--input-type=module",
    "-e",
    `const { Limitr } = await import(${JSON.stringify(engine)});
     const l = await Limitr.open({ policy: ${JSON.stringify(policies)}, store: "memory" });
     await l.close();`,
  ],
};

/** CPU seconds (user + system) of this process's waited-for children, from /proc. */
function childrenCpu(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of stat (cutime, cstime) in clock ticks; index from field 3.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const cpu: Record<string, number[]> = {};
const wall: Record<string, number[]> = {};
for (let i = 0; i < RUNS; i++) {
  for (const [name, args] of Object.entries(CASES)) {
    const before = childrenCpu();
    const t = performance.now();
    const run = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
    const elapsed = (performance.now() - t) / 1000;
    if (run.status !== 0) throw new Error(`${name} exited ${run.status}: ${run.stderr}`);
    (cpu[name] ??= []).push(childrenCpu() - before);
    (wall[name] ??= []).push(elapsed);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (n: number) => Number(n.toFixed(3));
const results: Record<string, number> = { runs: RUNS };
const nodeCpu = median(cpu.node as number[]);
const nodeWall = Math.min(...(wall.node as number[]));
for (const name of Object.keys(CASES)) {
  const c = median(cpu[name] as number[]);
  const w = Math.min(...(wall[name] as number[]));
  results[`${name}_cpu_s`] = round(c);
  results[`${name}_wall_s`] = round(w);
  if (name !== "node") {
    results[`${name}_cpu_ratio`] = round(c / nodeCpu);
    results[`${name}_wall_ratio`] = round(w / nodeWall);
  }
  process.stderr.write(
    `[startup bench] ${name}: ${c.toFixed(3)} s CPU (median), ${w.toFixed(3)} s wall (best)\n`,
  );
}
console.log(JSON.stringify({ bench: "startup", results }));
