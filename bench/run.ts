/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process (so each
 * measures its own peak memory) and passes their output through. Each suite
 * ends by printing one JSON summary line: {"bench": NAME, "results": {...}}.
 * Set BENCH_ONLY=engine,bill to run a subset. The lease and shared suites need
 * a Redis server (LIMITR_BENCH_REDIS, default redis://127.0.0.1:6379/0) and
 * print a `skipped` line without one.
 */
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY?.split(",").filter(Boolean);
const suites = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => !only || only.includes(f.replace(/\.bench\.ts$/, "")))
  .sort();

let failed = false;
for (const file of suites) {
  const run = await execa("npx", ["tsx", join(here, file)], { stdio: "inherit", reject: false });
  if (run.exitCode !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
