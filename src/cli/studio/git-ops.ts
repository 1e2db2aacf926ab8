import { policyDigestOf } from "limitr-engine/adapters/bundles/crypto";
import { diffPolicies } from "limitr-engine/core/diff/diff-policies";
import { ConflictError, InputError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { loadPolicyAt } from "../adapters/git/load-at-ref.js";
import { currentRef, dirtyPolicyFiles, type PolicyRepo } from "../adapters/git/policy-repo.js";
import { diffJson } from "../render/diff.js";

/**
 * The studio's git: what changed against the default branch, and saving a
 * change as a commit on a branch of its own. It never commits on the default
 * branch; pushing the branch (never forced) is `git-remote.ts`'s.
 */

/** The branch pull requests go to: the remote's HEAD, else `main`, else `master`, else the current branch. */
export async function defaultBranch(repo: PolicyRepo): Promise<string> {
  try {
    const remote = (
      await repo.git.raw(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"])
    ).trim();
    if (remote) return remote.replace(/^origin\//, "");
  } catch {
    // no remote HEAD: look for the usual names
  }
  for (const name of ["main", "master"]) if (await branchExists(repo, name)) return name;
  return currentRef(repo);
}

export async function gitStatus(repo: PolicyRepo) {
  return {
    branch: await currentRef(repo),
    defaultBranch: await defaultBranch(repo),
    changedFiles: await dirtyPolicyFiles(repo),
  };
}

/** The semantic diff (`limitr diff BASE`) of the work tree against `base`, as `--format json` has it. */
export async function diffAgainst(
  repo: PolicyRepo,
  base: string,
  cwd: string,
  policies: string,
  head: CompiledPolicy,
) {
  const before = await loadPolicyAt(repo, base, cwd, policies);
  if (!before.policy) throw new InputError(`${base} has no commits to compare with`);
  return diffJson({
    base: { ...before.side, digest: policyDigestOf(before.policy) },
    head: { ref: "work tree", commit: null, digest: policyDigestOf(head) },
    diff: diffPolicies(before.policy, head),
  });
}

async function validBranchName(repo: PolicyRepo, name: string): Promise<boolean> {
  if (name.startsWith("-")) return false;
  try {
    return (await repo.git.raw(["check-ref-format", "--branch", name])).trim() === name;
  } catch {
    return false;
  }
}

/** `rev-parse --quiet` fails silently, which simple-git does not treat as an error: the output tells. */
async function branchExists(repo: PolicyRepo, name: string): Promise<boolean> {
  try {
    return (await repo.git.raw(["rev-parse", "--verify", "--quiet", `refs/heads/${name}`])).trim() !== "";
  } catch {
    return false;
  }
}

export interface SaveResult {
  branch: string;
  commit: string;
  files: string[];
}

/**
 * Commit the policy directory's changes with `message` on `branch`: created
 * from the current commit when it does not exist (the changes come along),
 * used as it is when it is the branch checked out. Only policy files are committed.
 */
export async function saveChange(repo: PolicyRepo, branch: string, message: string): Promise<SaveResult> {
  const name = branch.trim();
  if (message.trim() === "") throw new InputError("write a message saying what changed and why");
  if (!(await validBranchName(repo, name))) throw new InputError(`"${branch}" is not a valid branch name`);
  const main = await defaultBranch(repo);
  if (name === main)
    throw new InputError(`changes are never saved on ${main}: choose a branch name of their own`);
  const files = await dirtyPolicyFiles(repo);
  if (files.length === 0) throw new InputError("there is nothing to save: the policy has no changes");
  const current = await currentRef(repo);
  if (current !== name) {
    if (await branchExists(repo, name))
      throw new ConflictError(`branch ${name} already exists: choose another name (nothing was changed)`);
    await repo.git.raw(["switch", "--create", name]);
  }
  const scope = repo.prefix === "" ? ["."] : [repo.prefix];
  await repo.git.add(["--all", "--", ...scope]);
  await repo.git.raw(["commit", "--quiet", "-m", message.trim(), "--", ...scope]);
  const commit = (await repo.git.raw(["rev-parse", "HEAD"])).trim();
  return { branch: name, commit, files };
}
