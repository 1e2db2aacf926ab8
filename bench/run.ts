/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process (so each
 * measures its own peak memory) and passes their output through. Each suite
 * ends by printing one JSON summary line: {"bench": NAME, "results": {...}}.
 * Then the targets (bench/targets.ts): a table on stderr of each figure, its
 * goal, its baseline in the same run and whether it was met, and the same as
 * one JSON line {"bench": "targets", "results": [...]}.
 * Set BENCH_ONLY=engine,bill to run a subset. The lease and shared suites need
 * a Redis server (LIMITR_BENCH_REDIS, default redis://127.0.0.1:6379/0) and
 * print a `skipped` line without one.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { type SuiteLine, summaryLines, TARGETS, verdicts, verdictTable } from "./targets.js";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY?.split(",").filter(Boolean);
const suites = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only || only.includes(f.replace(/\.bench\.ts$/, "")))
  .sort();

let failed = false;
const lines: SuiteLine[] = [];
for (const file of suites) {
  // Standard output goes to the terminal as it comes and is kept for the summary lines.
  const run = await execa("npx", ["tsx", join(here, file)], {
    stdin: "inherit",
    stdout: ["pipe", "inherit"],
    stderr: "inherit",
    reject: false,
  });
  if (run.exitCode !== 0) failed = true;
  lines.push(...summaryLines(run.stdout));
}
// With BENCH_ONLY, the targets of the suites that ran.
const list = verdicts(
  lines,
  TARGETS.filter((t) => !only || only.includes(t.suite)),
);
process.stderr.write(
  `\ntargets (${list.filter((v) => v.met === true).length} met of ${list.length}):\n${verdictTable(list)}\n`,
);
console.log(JSON.stringify({ bench: "targets", results: list }));
process.exitCode = failed ? 1 : 0;
