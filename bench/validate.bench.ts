/**
 * Policy validation and engine start on large policies: `validatePolicyFiles`
 * (YAML, schema, merge, every semantic rule, compile) and `Limitr.open` on the
 * compiled result, for 8,000 plans, 50,000 customers (about 12 MB of YAML in
 * one file) and a chain of 8,000 customers each the parent of the next.
 *
 * Each figure is seconds of CPU time of this process (user + system, GC
 * threads included), so a machine shared with other work does not inflate
 * it; wall-clock seconds are printed on stderr. Ends with one JSON line:
 * {"bench":"validate","results":{...}}.
 *
 *   npx tsx bench/validate.bench.ts        (or BENCH_ONLY=validate npm run bench)
 */
import { validatePolicyFiles } from "../src/engine/core/policy/validate.js";
import { Limitr } from "../src/engine/runtime/limitr.js";
import { type LargePolicyShape, largePolicy } from "./large-policy.js";

const CASES: [name: string, shape: LargePolicyShape][] = [
  ["plans_8k", { plans: 8_000 }],
  ["customers_50k", { customers: 50_000 }],
  ["parent_chain_8k", { chain: 8_000 }],
];
const round = (n: number) => Number(n.toFixed(3));
const log = (line: string) => process.stderr.write(`[validate bench] ${line}\n`);

async function measure<T>(work: () => Promise<T> | T): Promise<{ value: T; cpu: number; wall: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const value = await work();
  const used = process.cpuUsage(cpu);
  return { value, cpu: (used.user + used.system) / 1e6, wall: (performance.now() - t) / 1000 };
}

const results: Record<string, number> = {};
for (const [name, shape] of CASES) {
  const text = largePolicy(shape);
  const validated = await measure(() => validatePolicyFiles([{ path: "limitr.yaml", text }]));
  const policy = validated.value.policy;
  if (!policy) throw new Error(`${name} did not validate: ${JSON.stringify(validated.value.diagnostics[0])}`);
  const opened = await measure(async () => {
    const engine = await Limitr.open({ policy, store: "memory" });
    await engine.close();
  });
  results[`${name}_mb`] = round(text.length / 1e6);
  results[`${name}_validate_s`] = round(validated.cpu);
  results[`${name}_open_s`] = round(opened.cpu);
  log(
    `${name}: ${(text.length / 1e6).toFixed(1)} MB, validate ${validated.wall.toFixed(2)} s wall, open ${opened.wall.toFixed(2)} s wall`,
  );
}
results.peak_rss_mb = round(process.resourceUsage().maxRSS / 1024);
console.log(JSON.stringify({ bench: "validate", results }));
