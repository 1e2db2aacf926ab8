import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findPolicyRepo } from "../../src/cli/adapters/git/policy-repo.js";
import { policyLog, pullRequestUrl, pushBranch, repositoryWebUrl } from "../../src/cli/studio/git-remote.js";

describe("the pull-request address of a remote", () => {
  it.each([
    ["https://github.com/acme/pricing.git", "https://github.com/acme/pricing"],
    ["git@github.com:acme/pricing.git", "https://github.com/acme/pricing"],
    ["ssh://git@github.com/acme/pricing.git", "https://github.com/acme/pricing"],
    [
      "ssh://git@gitlab.example.com:2222/finance/pricing/policies.git",
      "https://gitlab.example.com/finance/pricing/policies",
    ],
    ["https://user@gitlab.com/acme/pricing/", "https://gitlab.com/acme/pricing"],
  ])("%s is the repository %s", (remote, web) => {
    expect(repositoryWebUrl(remote)).toBe(web);
  });

  it.each(["/srv/git/pricing.git", "../pricing.git", "file:///srv/git/pricing.git", "C:/git/pricing.git"])(
    "a local remote (%s) has no web page",
    (remote) => {
      expect(repositoryWebUrl(remote)).toBeNull();
      expect(pullRequestUrl(remote, "pricing/x", "main")).toBeNull();
    },
  );

  it("GitHub-style hosts compare the branch with the base", () => {
    expect(pullRequestUrl("git@github.com:acme/pricing.git", "pricing/pro overage", "main")).toBe(
      "https://github.com/acme/pricing/compare/main...pricing%2Fpro%20overage?expand=1",
    );
  });

  it("GitLab-style hosts open a merge request from the branch into the base", () => {
    expect(pullRequestUrl("https://gitlab.com/acme/pricing.git", "pricing/x", "trunk")).toBe(
      "https://gitlab.com/acme/pricing/-/merge_requests/new?merge_request%5Bsource_branch%5D=pricing%2Fx&merge_request%5Btarget_branch%5D=trunk",
    );
  });
});

describe("pushing a saved change", () => {
  const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" }).trim();
  function repoWithRemote() {
    const dir = mkdtempSync(join(tmpdir(), "limitr-push-"));
    const bare = join(mkdtempSync(join(tmpdir(), "limitr-push-remote-")), "r.git");
    execFileSync("git", ["init", "--quiet", "--bare", bare]);
    git(dir, "init", "--quiet", "--initial-branch", "main");
    git(dir, "config", "user.email", "p@example.com");
    git(dir, "config", "user.name", "P");
    execFileSync("mkdir", ["-p", join(dir, "policies")]);
    writeFileSync(join(dir, "policies/plans.yaml"), "plans: {}\n");
    writeFileSync(join(dir, "README"), "x\n");
    git(dir, "add", "-A");
    git(dir, "commit", "--quiet", "-m", "first");
    git(dir, "remote", "add", "origin", bare);
    git(dir, "push", "--quiet", "origin", "main");
    return { dir, bare };
  }

  it("refuses the default branch and never forces a diverged branch", async () => {
    const { dir, bare } = repoWithRemote();
    const repo = (await findPolicyRepo(dir, "policies"))!;
    await expect(pushBranch(repo, "main", "main")).rejects.toThrow("never pushes main");
    git(dir, "switch", "--quiet", "--create", "pricing/a");
    writeFileSync(join(dir, "policies/plans.yaml"), "plans: { a: {} }\n");
    git(dir, "commit", "--quiet", "-am", "a");
    const pushed = await pushBranch(repo, "pricing/a", "main");
    expect(pushed).toEqual({ remote: bare, branch: "pricing/a", pullRequestUrl: null });
    expect(git(bare, "rev-parse", "refs/heads/pricing/a")).toBe(git(dir, "rev-parse", "HEAD"));
    // Someone else moved the remote branch: the push is refused, not forced.
    const remoteHead = git(bare, "rev-parse", "refs/heads/pricing/a");
    git(dir, "commit", "--quiet", "--amend", "-m", "a, reworded");
    await expect(pushBranch(repo, "pricing/a", "main")).rejects.toThrow("nothing was forced");
    expect(git(bare, "rev-parse", "refs/heads/pricing/a")).toBe(remoteHead);
  });

  it("lists only the commits that touched the policy directory", async () => {
    const { dir } = repoWithRemote();
    writeFileSync(join(dir, "README"), "y\n");
    git(dir, "commit", "--quiet", "-am", "docs only");
    writeFileSync(join(dir, "policies/plans.yaml"), "plans: { b: {} }\n");
    git(dir, "commit", "--quiet", "-am", "plan b");
    const repo = (await findPolicyRepo(dir, "policies"))!;
    const log = await policyLog(repo);
    expect(log.map((c) => [c.subject, c.files, c.author])).toEqual([
      ["plan b", ["policies/plans.yaml"], "P"],
      ["first", ["policies/plans.yaml"], "P"],
    ]);
  });
});
