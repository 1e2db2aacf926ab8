import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError, PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";
import { formatDiagnostic } from "../core/policy/diagnostics.js";
import { MAX_FILE_BYTES } from "../core/policy/source.js";
import { type PolicyTree, resolvePolicyTree, type TreeEntry, type TreeProblem } from "../core/policy/tree.js";
import { type PolicyFile, type ValidationResult, validatePolicyFiles } from "../core/policy/validate.js";

/**
 * Reading a policy directory from disk. Validation itself is pure
 * (`validatePolicyFiles`); this file only finds and reads the files.
 */

/** How file paths appear in diagnostics: relative to `cwd` when inside it, as given otherwise. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, path));
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
 * a short placeholder carries their size so validation reports them. A
 * symlink that cannot be followed becomes a placeholder carrying its problem.
 */
export function readPolicyFiles(
  dir: string,
  cwd: string = process.cwd(),
  maxBytes: number = maxPolicyFileBytes(),
): PolicyFile[] {
  // Read relative to the caller's cwd, not the process's (the CLI also runs
  // in-process); paths are shown as the caller gave them.
  const root = resolve(cwd, dir);
  const shown = (p: string) => displayPath(isAbsolute(dir) ? join(root, p) : join(dir, p), cwd);
  const tree = policyTree(root);
  const files: PolicyFile[] = tree.files.map((f) => {
    const path = shown(f.path);
    const source = join(root, f.source);
    const size = statSync(source).size;
    if (size > maxBytes) return { path, text: new Uint8Array(size) };
    return { path, text: readFileSync(source) };
  });
  for (const p of tree.problems) files.push(linkProblem(shown(p.path), p));
  return files;
}

/** A link the policy cannot use, as a file whose only content is its problem. */
export function linkProblem(path: string, p: TreeProblem): PolicyFile {
  return { path, text: "", problem: { code: p.code, message: p.message, hint: SYMLINK_HINT } };
}

const SYMLINK_HINT =
  "links are followed only within the policy directory; copy the file in, or point the link inside";

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

/** Every *.yaml / *.yml below `dir` except the `tests/` folder and dot-folders, sorted for determinism; symlinks within `dir` followed. */
export function policyFiles(dir: string): string[] {
  return policyTree(dir).files.map((f) => join(dir, f.path));
}

/** The policy files below `dir` and the symlinks that cannot be followed (see `resolvePolicyTree`). */
export function policyTree(dir: string): PolicyTree {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    throw new InputError(
      `policy directory ${dir} does not exist (use --policies DIR, or \`limitr init\` to create one)`,
    );
  }
  if (!st.isDirectory()) throw new InputError(`${dir} is not a directory (use --policies DIR)`);
  const root = realpathSync(dir);
  const entries: TreeEntry[] = [];
  const list = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymbolicLink()) {
        entries.push({ path, kind: "link", target: linkTarget(root, path) });
      } else if (entry.isDirectory()) {
        if (entry.name === ".git") continue;
        entries.push({ path, kind: "dir" });
        list(path);
      } else if (entry.isFile()) entries.push({ path, kind: "file" });
    }
  };
  list("");
  return resolvePolicyTree(entries);
}

/** A link's target, made relative to its folder when it is an absolute path inside the policy directory. */
function linkTarget(root: string, path: string): string {
  const target = readlinkSync(join(root, path));
  if (!isAbsolute(target)) return target.split(sep).join("/");
  const inside = relative(root, target);
  if (inside.startsWith("..") || isAbsolute(inside)) return target;
  return (
    relative(dirname(join(root, path)), target)
      .split(sep)
      .join("/") || "."
  );
}
