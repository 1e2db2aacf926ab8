import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { PolicyError } from "../../core/errors.js";
import type { CompiledPolicy } from "../../core/model.js";
import { formatDiagnostic } from "../../core/policy/diagnostics.js";
import { validatePolicyFiles } from "../../core/policy/validate.js";
import { maxPolicyFileBytes, policyFiles } from "../policy-source.js";
import { type PolicyRepo, resolveCommit } from "./policy-repo.js";

/** One policy fragment: its path (for messages) and its text. */
export interface PolicyFile {
  path: string;
  text: string;
}

const POLICY_FILE = /\.ya?ml$/;

/** Is `rel` (relative to the policy directory, `/`-separated) a fragment? Same rule as the work tree reader. */
function isFragment(rel: string): boolean {
  if (!POLICY_FILE.test(rel)) return false;
  const parts = rel.split("/");
  if (parts[0] === "tests" && parts.length > 1) return false;
  return !parts.slice(0, -1).some((d) => d.startsWith("."));
}

/**
 * The policy fragments as they were in commit `ref`, read from git objects
 * (`ls-tree` + `cat-file`): the work tree and index are never touched.
 */
export async function policyFilesAtRef(
  repo: PolicyRepo,
  ref: string,
): Promise<{ commit: string; files: PolicyFile[] }> {
  const commit = await resolveCommit(repo, ref);
  const spec = repo.prefix === "" ? [] : ["--", `${repo.prefix}/`];
  const listing = await repo.git.raw(["ls-tree", "-r", "--name-only", "-z", commit, ...spec]);
  const paths = listing
    .split("\0")
    .filter(Boolean)
    .filter((p) => isFragment(repo.prefix === "" ? p : p.slice(repo.prefix.length + 1)))
    .sort();
  if (paths.length === 0) {
    throw new PolicyError(
      `${ref} (${commit.slice(0, 7)}) has no policy files under ${repo.prefix || "the repository root"}/` +
        " (the policy directory did not exist in that commit?)",
    );
  }
  const files: PolicyFile[] = [];
  for (const path of paths)
    files.push({ path, text: await repo.git.raw(["cat-file", "blob", `${commit}:${path}`]) });
  return { commit, files };
}

/** The policy fragments in the work tree, with paths relative to `base` (the repo root or cwd). */
export function policyFilesInWorkTree(dir: string, base: string): PolicyFile[] {
  return policyFiles(dir).map((file) => ({ path: relative(base, file), text: readFileSync(file, "utf8") }));
}

/**
 * Validate and compile fragments read at a ref with the same validator the
 * work tree uses, so a ref that would not validate today is reported the same way.
 */
export function compilePolicyFiles(files: PolicyFile[], where: string): CompiledPolicy {
  const result = validatePolicyFiles(files, { root: where, maxFileBytes: maxPolicyFileBytes() });
  if (result.policy) return result.policy;
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  throw new PolicyError(
    `the policy at ${where} is not valid (${errors.length} error${errors.length === 1 ? "" : "s"}):\n` +
      errors.map((d) => formatDiagnostic(d)).join("\n"),
  );
}
