import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError } from "../core/errors.js";
import { MAX_FILE_BYTES } from "../core/policy/limits.js";
import type { PolicyFile } from "../core/policy/source.js";
import { type PolicyTree, resolvePolicyTree, type TreeEntry, type TreeProblem } from "../core/policy/tree.js";

/**
 * Finding and reading a policy directory's files. Nothing here parses YAML
 * (nor loads the validator), so a process that finds its validation in the
 * cache (adapters/policy-cache.ts) never loads them.
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
