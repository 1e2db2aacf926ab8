import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";
import { formatDiagnostic } from "../core/policy/diagnostics.js";
import type { PolicyFile } from "../core/policy/source.js";
import type { ValidationResult } from "../core/policy/validate-document.js";
import { runCodeCacheBundle } from "./code-cache.js";
import { displayPath, maxPolicyFileBytes, readPolicyFiles } from "./policy-files.js";
import { limitrVersion } from "./version.js";

/**
 * The validation cache: the result of validating a policy directory (its
 * diagnostics, stats and compiled policy), stored under a key that is the
 * SHA-256 of everything the result depends on, so that a process validating
 * the same files again reads the result instead of parsing YAML, checking the
 * schema, type-checking CEL and compiling (and never loads the modules that
 * do it). Validation is a pure function of:
 *
 * - the files: each path as shown in diagnostics, its bytes (or the problem
 *   that stood in for it), in order; the directory name shown when it holds
 *   no file; the size limit;
 * - the validator: the engine's modules (its directory, and the path, size and
 *   modification time of every module of core/, which validates and compiles,
 *   and of the modules reading the files and keeping this cache, and of the
 *   build's bundle of the validator when there is one, so a rebuilt or edited
 *   engine never reads another build's results), its package.json
 *   (which pins the exact versions of yaml, CEL and the other dependencies)
 *   and the Node.js runtime (its version, ICU and time-zone data decide which
 *   time zones exist).
 *
 * The cache is an optimisation only: an entry that is missing, unreadable or
 * not the one asked for is a miss, and a cache directory that cannot be
 * written is silently not written. `LIMITR_CACHE_DIR` sets the directory
 * (`off` turns the cache off); by default it is `$XDG_CACHE_HOME/limitr/validation`,
 * or `~/.cache/limitr/validation`. The newest 64 entries are kept, 256 MiB at most.
 */

/** Bump when the entry layout or the key's make-up changes. */
const FORMAT = 1;
/** Entries kept in the directory: the oldest beyond this are removed when one is written. */
export const MAX_ENTRIES = 64;
/** Bytes the entries may take together (a 50,000-customer policy's entry is tens of MB). */
export const MAX_BYTES = 256 * 1024 * 1024;

/** The cache directory, or null when the cache is off. */
export function validationCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const set = env.LIMITR_CACHE_DIR?.trim();
  if (set === "off") return null;
  if (set) return resolve(set);
  let base = env.XDG_CACHE_HOME?.trim();
  if (!base) {
    try {
      const home = homedir();
      if (!home) return null;
      base = join(home, ".cache");
    } catch {
      return null;
    }
  }
  return join(base, "limitr", "validation");
}

let identity: string | undefined;

/** A digest identifying the running validator: engine modules, pinned dependencies, Node.js runtime. */
export function validatorIdentity(): string {
  if (identity !== undefined) return identity;
  const h = createHash("sha256");
  const v = process.versions;
  h.update(JSON.stringify([limitrVersion(), v.node, v.v8, v.icu ?? "", v.unicode ?? "", v.tz ?? ""]));
  // Built, this file is dist/adapters/ (the modules are dist/**/*.js); run
  // from sources it is adapters/ (the modules are **/*.ts). Validation and
  // compilation are core/ (which imports nothing from the adapters), plus
  // the reading of the files and this cache.
  const root = fileURLToPath(new URL("..", import.meta.url));
  h.update(`${root}\n`);
  const stamp = (path: string, st = statSync(join(root, path))) =>
    h.update(`${path}\0${st.size}\0${st.mtimeMs}\n`);
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = `${rel}/${name}`;
      if (isModule(name)) stamp(path);
      else if (!skipped(name) && statSync(join(root, path)).isDirectory()) walk(path);
    }
  };
  walk("core");
  const self = fileURLToPath(import.meta.url);
  const ext = self.slice(self.lastIndexOf("."));
  stamp(`adapters/policy-cache${ext}`);
  stamp(`adapters/policy-files${ext}`);
  // The build's bundles of the validation modules validate in their place (loadValidator, loadCompiledChecker).
  for (const kit of ["validator-kit.cjs", "compiled-kit.cjs"]) if (existsSync(join(root, kit))) stamp(kit);
  for (const candidate of ["../package.json", "../../package.json"]) {
    try {
      const text = readFileSync(new URL(candidate, import.meta.url), "utf8");
      if ((JSON.parse(text) as { name?: string }).name !== "limitr-engine") continue;
      h.update(text);
      break;
    } catch {
      // Not at this level; try the next.
    }
  }
  identity = h.digest("hex");
  return identity;
}

/** Declarations and source maps beside the modules (not statted: only a module or a folder matters). */
const skipped = (name: string) => name.endsWith(".map") || name.endsWith(".d.ts");
const isModule = (name: string) => name.endsWith(".js") || (name.endsWith(".ts") && !name.endsWith(".d.ts"));

/** The cache key of validating `files` (as `validatePolicyFiles` would, with these options). */
export function validationKey(files: readonly PolicyFile[], root: string, maxFileBytes: number): string {
  const h = createHash("sha256");
  h.update(JSON.stringify([FORMAT, validatorIdentity(), root, maxFileBytes, files.length]));
  for (const f of files) {
    const kind = typeof f.text === "string" ? "text" : "bytes";
    h.update(`\n${JSON.stringify([f.path, f.problem ?? null, kind, f.text.length])}\n`);
    h.update(f.text);
  }
  return h.digest("hex");
}

interface Entry<T> {
  format: number;
  key: string;
  result: T;
}

/** The result stored under `key`, or null (a miss) when there is none usable. */
function readEntry<T>(dir: string, key: string, usable: (result: T) => boolean): T | null {
  try {
    const entry = JSON.parse(readFileSync(join(dir, `${key}.json`), "utf8")) as Entry<T>;
    if (entry.format !== FORMAT || entry.key !== key || !entry.result || !usable(entry.result)) return null;
    return entry.result;
  } catch {
    return null;
  }
}

/** The cached validation for `key`, or null (a miss) when there is none usable. */
export function readValidation(dir: string, key: string): ValidationResult | null {
  return readEntry<ValidationResult>(
    dir,
    key,
    (r) => Array.isArray(r.diagnostics) && typeof r.stats === "object" && r.stats !== null,
  );
}

/**
 * Store `result` under `key` (written whole to a temporary file, then renamed,
 * so a reader sees the whole entry or none). Results that JSON would not carry
 * exactly are not stored. Failures are ignored: the cache only saves time.
 */
export function writeValidation(dir: string, key: string, result: ValidationResult): boolean {
  return writeEntry(dir, key, result);
}

function writeEntry(dir: string, key: string, result: unknown): boolean {
  if (!exactInJson(result)) return false;
  const file = join(dir, `${key}.json`);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, JSON.stringify({ format: FORMAT, key, result } satisfies Entry<unknown>));
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // Never written.
    }
    return false;
  }
  pruneValidations(dir);
  return true;
}

/**
 * Keep the newest entries: at most `maxEntries`, and no more than `maxBytes`
 * together (the newest one is kept whatever its size). Returns how many were removed.
 */
export function pruneValidations(dir: string, maxEntries = MAX_ENTRIES, maxBytes = MAX_BYTES): number {
  let removed = 0;
  try {
    const aged = readdirSync(dir)
      .filter((n) => n.endsWith(".json"))
      .map((n) => {
        try {
          const st = statSync(join(dir, n));
          return { n, t: st.mtimeMs, size: st.size };
        } catch {
          return { n, t: 0, size: 0 };
        }
      });
    aged.sort((a, b) => b.t - a.t);
    let kept = 0;
    let bytes = 0;
    for (const { n, size } of aged) {
      if (kept === 0 || (kept < maxEntries && bytes + size <= maxBytes)) {
        kept++;
        bytes += size;
        continue;
      }
      try {
        unlinkSync(join(dir, n));
        removed++;
      } catch {
        // Removed by another process meanwhile.
      }
    }
  } catch {
    // Unreadable directory: nothing to prune.
  }
  return removed;
}

/**
 * Does `value` survive JSON.stringify/parse unchanged? Members holding
 * undefined are dropped by JSON (as in a bundle): allowed unless `strict`.
 */
export function exactInJson(value: unknown, strict = false): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "undefined":
      return !strict;
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (Array.isArray(value)) return value.every((v) => v !== undefined && exactInJson(v, strict));
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const k of Object.keys(value))
        if (!exactInJson((value as Record<string, unknown>)[k], strict)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * `validatePolicyDir` through the cache: read the files, and on a miss
 * validate them (loading the validator only then) and store the result.
 */
export async function validatePolicyDirCached(
  dir: string,
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<ValidationResult> {
  const maxFileBytes = maxPolicyFileBytes(env);
  const files = readPolicyFiles(dir, cwd, maxFileBytes);
  const root = displayPath(dir, cwd);
  const cacheDir = validationCacheDir(env);
  const key = cacheDir === null ? null : validationKey(files, root, maxFileBytes);
  if (cacheDir !== null && key !== null) {
    const hit = readValidation(cacheDir, key);
    if (hit) return hit;
  }
  const validatePolicyFiles = await loadValidator();
  const result = validatePolicyFiles(files, { root, maxFileBytes });
  if (cacheDir !== null && key !== null) writeValidation(cacheDir, key, result);
  return result;
}

type ValidatePolicyFiles = typeof import("../core/policy/validate.js").validatePolicyFiles;
let validator: ValidatePolicyFiles | undefined;

/**
 * The validator, loaded on the first miss: from the build's bundle of the
 * validation modules with its V8 code cache (src/engine/dist/validator-kit.cjs,
 * made by `npm run build`; docs/performance.md, "Cold start") when there is
 * one, else (the TypeScript sources) its modules as usual. Both are the same code.
 */
async function loadValidator(): Promise<ValidatePolicyFiles> {
  validator ??= await fromKit("validator-kit", "validatePolicyFiles", async () => {
    return (await import("../core/policy/validate.js")).validatePolicyFiles;
  });
  return validator;
}

/** Export `key` of the build's bundle `name` (beside dist/adapters/), or of `modules()` without one. */
async function fromKit<T>(name: string, key: string, modules: () => Promise<T>): Promise<T> {
  const kit = await runCodeCacheBundle(new URL("../", import.meta.url), name);
  return kit ? (kit.exports[key] as T) : modules();
}

type CheckCompiledPolicy = typeof import("../core/bundles/validate-compiled.js").validateCompiledPolicy;
let compiledChecker: CheckCompiledPolicy | undefined;

/**
 * The checker of compiled policies (`validateCompiledPolicy`), loaded on first
 * use: from the build's bundle of it with its V8 code cache
 * (src/engine/dist/compiled-kit.cjs; the modules the engine's entry imports
 * stay outside it, shared) when there is one, else its modules as usual.
 */
export async function loadCompiledChecker(): Promise<CheckCompiledPolicy> {
  compiledChecker ??= await fromKit("compiled-kit", "validateCompiledPolicy", async () => {
    return (await import("../core/bundles/validate-compiled.js")).validateCompiledPolicy;
  });
  return compiledChecker;
}

/** `loadValidPolicy` through the cache: the compiled policy, or a PolicyError listing every problem. */
export async function loadValidPolicyCached(dir: string): Promise<CompiledPolicy> {
  return compiledOrThrow(dir, await validatePolicyDirCached(dir));
}

/** The compiled policy of a validation of `dir`, or a PolicyError listing every error (one SPEC §5 line each). */
export function compiledOrThrow(dir: string, result: ValidationResult): CompiledPolicy {
  if (result.policy) return result.policy;
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  const lines = errors.map((d) => formatDiagnostic(d));
  throw new PolicyError(
    `${displayPath(dir)} is not a valid policy (${errors.length} error${errors.length === 1 ? "" : "s"}):\n${lines.join("\n")}`,
  );
}

/**
 * The problems of a compiled policy arriving as JSON (a bundle, a bundle
 * file), from the checker `load` resolves to (`validateCompiledPolicy`,
 * loaded only on a miss) or from the cache: a policy found sound before by the
 * same validator is not checked again. The key is `digest`, which the caller
 * computes from `policy` (`policyDigestOf`: the sha256 of its canonical JSON,
 * never a manifest's claim); it names the content exactly when the policy
 * holds only what JSON carries, undefined members included (checked here;
 * anything else is checked afresh). Only sound verdicts are stored.
 */
export async function compiledPolicyProblems(
  policy: unknown,
  digest: string,
  load: () => Promise<(policy: unknown) => string[]>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const dir = verdictDir(policy, env);
  if (dir !== null && knownSound(dir, digest)) return [];
  return checkAndRecord(dir, digest, policy, await load());
}

/** `compiledPolicyProblems` with the checker at hand (the bundle loader has loaded it already). */
export function compiledPolicyProblemsSync(
  policy: unknown,
  digest: string,
  check: (policy: unknown) => string[],
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const dir = verdictDir(policy, env);
  if (dir !== null && knownSound(dir, digest)) return [];
  return checkAndRecord(dir, digest, policy, check);
}

/** The cache directory for a verdict on `policy`, or null when the cache is off or the digest would not name it. */
function verdictDir(policy: unknown, env: NodeJS.ProcessEnv): string | null {
  const dir = validationCacheDir(env);
  return dir !== null && exactInJson(policy, true) ? dir : null;
}

const verdictKey = (digest: string) =>
  createHash("sha256")
    .update(JSON.stringify([FORMAT, "compiled-policy", validatorIdentity(), digest]))
    .digest("hex");

function knownSound(dir: string, digest: string): boolean {
  return readEntry<{ sound: boolean }>(dir, verdictKey(digest), (r) => r.sound === true) !== null;
}

function checkAndRecord(
  dir: string | null,
  digest: string,
  policy: unknown,
  check: (policy: unknown) => string[],
): string[] {
  const problems = check(policy);
  if (dir !== null && problems.length === 0) writeEntry(dir, verdictKey(digest), { sound: true });
  return problems;
}
