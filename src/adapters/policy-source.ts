import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { compilePolicy } from "../core/compile.js";
import { PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";

/**
 * Read a policy directory and return the compiled policy, or throw a
 * PolicyError listing every problem.
 *
 * PROVISIONAL: merges and compiles without validation. The validated path
 * (positions, schema, semantic rules) replaces the body, keeping this signature.
 */
export function loadValidPolicy(dir: string): CompiledPolicy {
  const merged: Record<string, unknown> = {};
  for (const file of policyFiles(dir)) {
    const doc = parse(readFileSync(file, "utf8")) as Record<string, unknown> | null;
    if (!doc) continue;
    for (const [section, value] of Object.entries(doc)) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        merged[section] = { ...(merged[section] as object), ...value };
      } else merged[section] = value;
    }
  }
  if (merged.limitr === undefined) throw new PolicyError(`${dir}: no file declares \`limitr: 1\``);
  return compilePolicy(merged);
}

/** Every *.yaml / *.yml below `dir` except the `tests/` folder, sorted for determinism. */
export function policyFiles(dir: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    throw new PolicyError(`policy directory ${dir} does not exist (use --policies DIR)`);
  }
  if (!st.isDirectory()) throw new PolicyError(`${dir} is not a directory (use --policies DIR)`);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) {
        if (relative(dir, p) === "tests" || entry.name.startsWith(".")) continue;
        walk(p);
      } else if (/\.ya?ml$/.test(entry.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
