import { realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError } from "limitr-engine/core/errors";
import { type SimpleGit, simpleGit } from "simple-git";

/**
 * The git repository that holds a policy directory, located from the CLI's
 * cwd and `--policies`. `prefix` is the policy directory relative to the
 * repository root in git's form ("policies", "config/limitr", "" at the root),
 * so reads at a ref work the same from any subdirectory.
 */
export interface PolicyRepo {
  git: SimpleGit;
  root: string;
  prefix: string;
  /** Absolute path of the policy directory in the work tree. */
  policyDir: string;
}

/** Resolve `p` through symlinks as far as it exists, so it compares with git's (real) top level. */
function realish(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(realish(parent), p.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
  }
}

/** The repository holding `policies` (relative to `cwd`), or null when it is not inside a git work tree. */
export async function findPolicyRepo(cwd: string, policies: string): Promise<PolicyRepo | null> {
  const policyDir = realish(resolve(cwd, policies));
  let start = policyDir;
  // git needs an existing directory to start from; a missing policy dir is reported by the reader.
  while (true) {
    try {
      realpathSync(start);
      break;
    } catch {
      start = dirname(start);
    }
  }
  const git = simpleGit({ baseDir: start });
  let root: string;
  try {
    root = (await git.revparse(["--show-toplevel"])).trim();
  } catch {
    return null;
  }
  root = realish(root);
  const rel = relative(root, policyDir);
  if (rel.startsWith("..") || isAbsolute(rel)) return null;
  return { git: simpleGit({ baseDir: root }), root, prefix: rel.split(sep).join("/"), policyDir };
}

export async function requirePolicyRepo(cwd: string, policies: string): Promise<PolicyRepo> {
  const repo = await findPolicyRepo(cwd, policies);
  if (!repo)
    throw new InputError(`${policies} is not inside a git repository (git refs need one; run \`git init\`)`);
  return repo;
}

/** The commit HEAD points to, or null in a repository with no commits yet. */
export async function headCommit(repo: PolicyRepo): Promise<string | null> {
  try {
    return (await repo.git.raw(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])).trim() || null;
  } catch {
    return null;
  }
}

/** The checked-out branch name, or `HEAD` when detached (or before the first commit: the unborn branch). */
export async function currentRef(repo: PolicyRepo): Promise<string> {
  try {
    const name = (await repo.git.raw(["symbolic-ref", "--quiet", "--short", "HEAD"])).trim();
    return name || "HEAD";
  } catch {
    return "HEAD";
  }
}

/** Resolve a ref to a commit id; a clear error when it does not name a commit. */
export async function resolveCommit(repo: PolicyRepo, ref: string): Promise<string> {
  if (ref.startsWith("-")) throw new InputError(`"${ref}" is not a git ref`);
  try {
    const sha = (await repo.git.raw(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`])).trim();
    if (sha) return sha;
  } catch {
    // fall through to the explanation below
  }
  if ((await headCommit(repo)) === null)
    throw new InputError(
      `"${ref}" does not exist: the repository has no commits yet (commit the policy first)`,
    );
  throw new InputError(`"${ref}" is not a commit, branch or tag in ${repo.root}`);
}

/** Files under the policy directory with uncommitted changes (modified, staged, deleted or untracked). */
export async function dirtyPolicyFiles(repo: PolicyRepo): Promise<string[]> {
  const out = await repo.git.raw([
    "status",
    "--porcelain=v1",
    "-z",
    "--untracked-files=all",
    "--",
    // literal: a directory name with glob characters must not match other paths.
    repo.prefix === "" ? ":(top)" : `:(top,literal)${repo.prefix}`,
  ]);
  return out
    .split("\0")
    .filter((entry) => entry.length > 3)
    .map((entry) => entry.slice(3));
}

/** Author identity for manifests: git user.email, else $USER. */
export async function gitUserEmail(repo: PolicyRepo | null, env: NodeJS.ProcessEnv): Promise<string> {
  if (repo) {
    try {
      const email = (await repo.git.raw(["config", "--get", "user.email"])).trim();
      if (email) return email;
    } catch {
      // no identity configured
    }
  }
  return env.USER ?? env.USERNAME ?? "unknown";
}
