import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { InputError, PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";
import { formatDiagnostic } from "../core/policy/diagnostics.js";
import { MAX_FILE_BYTES } from "../core/policy/source.js";
import { type PolicyFile, type ValidationResult, validatePolicyFiles } from "../core/policy/validate.js";

/**
 * Reading a policy directory from disk. Validation itself is pure
 * (`validatePolicyFiles`); this file only finds and reads the files.
 */

/** How file paths appear in diagnostics: relative to `cwd` when inside it, as given otherwise. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/**
 * The largest policy file accepted, in bytes: `LIMITR_MAX_POLICY_FILE_MIB`
 * (a positive number of MiB) or the default of 16 MiB.
 */
export function maxPolicyFileBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LIMITR_MAX_POLICY_FILE_MIB;
  if (raw === undefined || raw.trim() === "") return MAX_FILE_BYTES;
  const mib = Number(raw);
  if (!Number.isFinite(mib) || mib <= 0)
    throw new InputError(`LIMITR_MAX_POLICY_FILE_MIB must be a positive number of MiB (got "${raw}")`);
  return Math.floor(mib * 1024 * 1024);
}

/**
 * Read every policy file below `dir`. Files over the size limit are not read:
 * a short placeholder carries their size so validation reports them.
 */
export function readPolicyFiles(
  dir: string,
  cwd: string = process.cwd(),
  maxBytes: number = maxPolicyFileBytes(),
): PolicyFile[] {
  return policyFiles(dir).map((file) => {
    const path = displayPath(file, cwd);
    const size = statSync(file).size;
    if (size > maxBytes) return { path, text: new Uint8Array(size) };
    return { path, text: readFileSync(file) };
  });
}

/** Validate the policy directory `dir`; diagnostics name files relative to `cwd`. Throws InputError when `dir` is unreadable. */
export function validatePolicyDir(dir: string, cwd: string = process.cwd()): ValidationResult {
  const maxFileBytes = maxPolicyFileBytes();
  return validatePolicyFiles(readPolicyFiles(dir, cwd, maxFileBytes), {
    root: displayPath(dir, cwd),
    maxFileBytes,
  });
}

/**
 * Read a policy directory and return the compiled policy, or throw a
 * PolicyError listing every problem (one SPEC §5 line each). Warnings do not
 * stop loading; `limitr validate --strict` is where they fail a build.
 */
export function loadValidPolicy(dir: string): CompiledPolicy {
  const result = validatePolicyDir(dir);
  if (result.policy) return result.policy;
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  const lines = errors.map((d) => formatDiagnostic(d));
  throw new PolicyError(
    `${displayPath(dir)} is not a valid policy (${errors.length} error${errors.length === 1 ? "" : "s"}):\n${lines.join("\n")}`,
  );
}

/** Every *.yaml / *.yml below `dir` except the `tests/` folder and dot-folders, sorted for determinism. */
export function policyFiles(dir: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    throw new InputError(
      `policy directory ${dir} does not exist (use --policies DIR, or \`limitr init\` to create one)`,
    );
  }
  if (!st.isDirectory()) throw new InputError(`${dir} is not a directory (use --policies DIR)`);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) {
        if (relative(dir, p) === "tests" || entry.name.startsWith(".")) continue;
        walk(p);
      } else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
