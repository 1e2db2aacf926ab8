import { InputError } from "limitr-engine/core/errors";
import type { PolicyRepo } from "../adapters/git/policy-repo.js";

/**
 * Pushing a saved change and the pull request that follows it. A push is
 * always a plain `git push` of the change's own branch to `origin`: never with
 * force, never the default branch. The pull-request page is derived from the
 * remote's URL for GitHub- and GitLab-style hosts.
 */

/** The web address of a repository from a remote URL (https, ssh, scp-like), or null for local paths. */
export function repositoryWebUrl(remote: string): string | null {
  const trimmed = remote
    .trim()
    .replace(/\.git$/, "")
    .replace(/\/+$/, "");
  if (!trimmed.includes("://")) {
    // scp-like `git@github.com:owner/repo`; a local path has no host with a dot.
    const scp = trimmed.match(/^(?:[^@/\s]+@)?([^:/\s]+):\/*(.+\/.+)$/);
    return scp?.[1]?.includes(".") ? `https://${scp[1]}/${scp[2]}` : null;
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if (!["https:", "http:", "ssh:", "git:"].includes(url.protocol) || url.hostname === "") return null;
  const path = url.pathname.replace(/^\/+/, "");
  if (!path.includes("/")) return null;
  const scheme = url.protocol === "http:" ? "http" : "https";
  return `${scheme}://${url.hostname}/${path}`;
}

/** Where to open a pull (merge) request for `branch` into `base`, or null when the host is unknown. */
export function pullRequestUrl(remote: string, branch: string, base: string): string | null {
  const web = repositoryWebUrl(remote);
  if (web === null) return null;
  const host = new URL(web).hostname;
  const b = encodeURIComponent(branch);
  if (host.includes("gitlab"))
    return `${web}/-/merge_requests/new?merge_request%5Bsource_branch%5D=${b}&merge_request%5Btarget_branch%5D=${encodeURIComponent(base)}`;
  if (host.includes("bitbucket"))
    return `${web}/pull-requests/new?source=${b}&dest=${encodeURIComponent(base)}`;
  // GitHub and the many hosts that copy its paths (Gitea, Forgejo, GitHub Enterprise).
  return `${web}/compare/${encodeURIComponent(base)}...${b}?expand=1`;
}

export async function originUrl(repo: PolicyRepo): Promise<string | null> {
  try {
    const url = (await repo.git.raw(["remote", "get-url", "origin"])).trim();
    return url === "" ? null : url;
  } catch {
    return null;
  }
}

export interface PushResult {
  remote: string;
  branch: string;
  pullRequestUrl: string | null;
}

/** `git push --set-upstream origin <branch>`: refused for the default branch; never forced. */
export async function pushBranch(
  repo: PolicyRepo,
  branch: string,
  defaultBranch: string,
): Promise<PushResult> {
  if (branch === defaultBranch)
    throw new InputError(`the studio never pushes ${defaultBranch}: save the change on a branch of its own`);
  const remote = await originUrl(repo);
  if (remote === null) throw new InputError("the repository has no remote named origin to push to");
  try {
    await repo.git.raw([
      "push",
      "--quiet",
      "--set-upstream",
      "origin",
      `refs/heads/${branch}:refs/heads/${branch}`,
    ]);
  } catch (err) {
    const why = (err as Error).message.split("\n").find((l) => l.trim() !== "") ?? "git push failed";
    throw new InputError(`the push of ${branch} to origin was refused: ${why.trim()} (nothing was forced)`);
  }
  return { remote, branch, pullRequestUrl: pullRequestUrl(remote, branch, defaultBranch) };
}

export interface PolicyCommit {
  commit: string;
  date: string;
  author: string;
  subject: string;
  files: string[];
}

/** The commits that touched the policy directory, newest first (`git log -- <policies>`). */
export async function policyLog(repo: PolicyRepo, limit = 50): Promise<PolicyCommit[]> {
  const scope = repo.prefix === "" ? "." : repo.prefix;
  let out: string;
  try {
    out = await repo.git.raw([
      "log",
      `--max-count=${limit}`,
      "--format=%x1e%H%x1f%aI%x1f%an%x1f%s",
      "--name-only",
      "--",
      scope,
    ]);
  } catch {
    return []; // no commits yet
  }
  return out
    .split("\x1e")
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => {
      const [head = "", ...rest] = chunk.split("\n");
      const [commit = "", date = "", author = "", subject = ""] = head.split("\x1f");
      return { commit, date, author, subject, files: rest.filter((l) => l.trim() !== "") };
    });
}
