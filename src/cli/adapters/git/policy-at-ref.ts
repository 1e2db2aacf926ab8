import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { linkProblem, maxPolicyFileBytes, policyFiles } from "limitr-engine/adapters/policy-source";
import { PolicyError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { formatDiagnostic } from "limitr-engine/core/policy/diagnostics";
import { resolvePolicyTree, type TreeEntry } from "limitr-engine/core/policy/tree";
import { type PolicyFile, validatePolicyFiles } from "limitr-engine/core/policy/validate";
import { type PolicyRepo, resolveCommit } from "./policy-repo.js";

/**
 * The policy fragments as they were in commit `ref`, read from git objects
 * (`ls-tree` + `cat-file`): the work tree and index are never touched.
 * Symlinks behave as in the work tree (`resolvePolicyTree`): git stores a
 * link as a blob holding its target, which is followed within the policy
 * directory and reported otherwise.
 */
export async function policyFilesAtRef(
  repo: PolicyRepo,
  ref: string,
): Promise<{ commit: string; files: PolicyFile[] }> {
  const commit = await resolveCommit(repo, ref);
  const spec = repo.prefix === "" ? [] : ["--", `${repo.prefix}/`];
  const listing = await repo.git.raw(["ls-tree", "-r", "-t", "-z", commit, ...spec]);
  const full = (rel: string) => (repo.prefix === "" ? rel : `${repo.prefix}/${rel}`);
  const entries: TreeEntry[] = [];
  for (const line of listing.split("\0").filter(Boolean)) {
    const tab = line.indexOf("\t");
    const [mode, type] = line.slice(0, tab).split(" ");
    const path = line.slice(tab + 1);
    const rel = repo.prefix === "" ? path : path.slice(repo.prefix.length + 1);
    if (rel === "" || !path.startsWith(repo.prefix)) continue;
    if (type === "tree") entries.push({ path: rel, kind: "dir" });
    else if (mode === "120000") {
      const target = await repo.git.raw(["cat-file", "blob", `${commit}:${path}`]);
      entries.push({ path: rel, kind: "link", target });
    } else if (type === "blob") entries.push({ path: rel, kind: "file" });
  }
  const tree = resolvePolicyTree(entries);
  if (tree.files.length === 0 && tree.problems.length === 0) {
    throw new PolicyError(
      `${ref} (${commit.slice(0, 7)}) has no policy files under ${repo.prefix || "the repository root"}/` +
        " (the policy directory did not exist in that commit?)",
    );
  }
  const files: PolicyFile[] = [];
  for (const f of tree.files)
    files.push({
      path: full(f.path),
      text: await repo.git.raw(["cat-file", "blob", `${commit}:${full(f.source)}`]),
    });
  for (const p of tree.problems) files.push(linkProblem(full(p.path), p));
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
