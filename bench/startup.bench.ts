/**
 * Cold start: how long a fresh process takes for `limitr --version`,
 * `limitr validate` on the example policy (policies/) and `Limitr.open` on it
 * with the memory store, each compared with a bare `node -e 0` measured in the
 * same run (the ratio is what counts; absolute figures move with the machine).
 * `Limitr.open` is measured twice: on the policy directory (YAML read,
 * validated and compiled) and on the example policy's bundle as `limitr push`
 * publishes it (`{ manifest, policy }`: what a service in production loads).
 * The `*_call_*` figures time the open call alone, inside the process.
 *
 * `limitr validate` and `Limitr.open` on the directory read the validation
 * cache (docs/performance.md, "Validation cache"): `validate` and `open` run
 * with a cache directory of the bench's own that one run before the timed ones
 * has filled (a policy validated before, as on a developer's machine or a
 * service restarting); `validate_cold` and `open_cold` run with the cache off
 * (`LIMITR_CACHE_DIR=off`: a fresh CI checkout, a policy never seen).
 * Likewise `open_bundle` finds the bundle's policy known sound (by digest)
 * and `open_bundle_cold` validates it.
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
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "src/cli/bin/limitr.js");
const policies = join(root, "policies");
const engine = join(root, "src/engine/dist/index.js");
const RUNS = Number(process.env.STARTUP_RUNS ?? 15);

/** The example policy pushed with the built CLI in a scratch repository: its bundle as one file. */
function exampleBundle(dir: string): string {
  cpSync(policies, join(dir, "policies"), { recursive: true });
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("-c", "user.email=bench@example.com", "-c", "user.name=bench", "commit", "-q", "-m", "example");
  execFileSync(process.execPath, [bin, "push", "--env", "production", "--skip-tests"], {
    cwd: dir,
    stdio: "ignore",
  });
  const store = join(dir, ".limitr/bundles/production");
  const { manifest } = JSON.parse(readFileSync(join(store, "versions/1.json"), "utf8"));
  const blob = join(store, "blobs/sha256", `${String(manifest.digest).slice("sha256:".length)}.json`);
  const file = join(dir, "bundle.json");
  writeFileSync(file, JSON.stringify({ manifest, policy: JSON.parse(readFileSync(blob, "utf8")) }));
  return file;
}

const scratch = mkdtempSync(join(tmpdir(), "limitr-startup-"));
const bundle = exampleBundle(scratch);
/** A process that opens `policy` and prints the CPU milliseconds of the open call itself. */
const opening = (policy: string) => [
  "--input-type=module",
  "-e",
  `const { Limitr } = await import(${JSON.stringify(engine)});
   const c0 = process.cpuUsage();
   const l = await Limitr.open({ policy: ${JSON.stringify(policy)}, store: "memory" });
   const c = process.cpuUsage(c0);
   console.log((c.user + c.system) / 1000);
   await l.close();`,
];

const cache = join(scratch, "cache");
const warm = { ...process.env, LIMITR_CACHE_DIR: cache };
const off = { ...process.env, LIMITR_CACHE_DIR: "off" };
/** Each case: the node arguments and the environment. */
const CASES: Record<string, [string[], NodeJS.ProcessEnv]> = {
  node: [["-e", "0"], warm],
  version: [[bin, "--version"], warm],
  validate: [[bin, "validate", "--policies", policies], warm],
  validate_cold: [[bin, "validate", "--policies", policies], off],
  open: [opening(policies), warm],
  open_cold: [opening(policies), off],
  open_bundle: [opening(bundle), warm],
  open_bundle_cold: [opening(bundle), off],
};
// Fill the cache: the validation of policies/ as `limitr validate` and `Limitr.open` would store it, and the bundle's verdict.
for (const name of ["validate", "open", "open_bundle"]) {
  const [args, env] = CASES[name] as [string[], NodeJS.ProcessEnv];
  spawnSync(process.execPath, args, { cwd: root, env });
}

/** CPU seconds (user + system) of this process's waited-for children, from /proc. */
function childrenCpu(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of stat (cutime, cstime) in clock ticks; index from field 3.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const cpu: Record<string, number[]> = {};
const wall: Record<string, number[]> = {};
/** CPU ms of the open call alone, as the `open*` processes print it. */
const call: Record<string, number[]> = {};
for (let i = 0; i < RUNS; i++) {
  for (const [name, [args, env]] of Object.entries(CASES)) {
    const before = childrenCpu();
    const t = performance.now();
    const run = spawnSync(process.execPath, args, { cwd: root, env, encoding: "utf8" });
    const elapsed = (performance.now() - t) / 1000;
    if (run.status !== 0) throw new Error(`${name} exited ${run.status}: ${run.stderr}`);
    (cpu[name] ??= []).push(childrenCpu() - before);
    (wall[name] ??= []).push(elapsed);
    if (name.startsWith("open")) (call[name] ??= []).push(Number(run.stdout.trim()) / 1000);
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
for (const [name, xs] of Object.entries(call)) {
  results[`${name}_call_cpu_s`] = round(median(xs));
  process.stderr.write(
    `[startup bench] ${name}: the open call alone ${median(xs).toFixed(3)} s CPU (median)\n`,
  );
}
rmSync(scratch, { recursive: true, force: true });
console.log(JSON.stringify({ bench: "startup", results }));
