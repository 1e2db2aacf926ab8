import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compilePolicyFiles, policyFilesAtRef } from "../../src/cli/adapters/git/policy-at-ref.js";
import {
  dirtyPolicyFiles,
  findPolicyRepo,
  headCommit,
  requirePolicyRepo,
} from "../../src/cli/adapters/git/policy-repo.js";
import { PolicyError } from "../../src/engine/core/errors.js";
import { commitAll, edit, git, makeRepo } from "./helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
async function repo(opts?: { commit?: boolean }) {
  const r = await makeRepo(opts);
  cleanups.push(r.cleanup);
  return r.dir;
}

describe("policies at a git ref", () => {
  it("reads the policy as committed, not as in the work tree, and leaves the work tree alone", async () => {
    const dir = await repo();
    edit(join(dir, "policies/plans.yaml"), "price: 49", "price: 59");
    const r = await requirePolicyRepo(dir, "policies");
    const { commit, files } = await policyFilesAtRef(r, "HEAD");
    expect(commit).toBe((await git(dir, "rev-parse", "HEAD")).trim());
    expect(files.map((f) => f.path)).toEqual([
      "policies/alerts.yaml",
      "policies/customers.yaml",
      "policies/limitr.yaml",
      "policies/meters.yaml",
      "policies/plans.yaml",
    ]);
    expect(compilePolicyFiles(files, "HEAD").plans.pro?.price).toBe("49");
    expect(readFileSync(join(dir, "policies/plans.yaml"), "utf8")).toContain("price: 59");
    expect(await dirtyPolicyFiles(r)).toEqual(["policies/plans.yaml"]);
  });

  it("resolves --policies relative to a subdirectory cwd", async () => {
    const dir = await repo();
    mkdirSync(join(dir, "services/api"), { recursive: true });
    const r = await requirePolicyRepo(join(dir, "services/api"), "../../policies");
    expect(r.prefix).toBe("policies");
    const { files } = await policyFilesAtRef(r, "HEAD");
    expect(compilePolicyFiles(files, "HEAD").name).toBe("acme-ai");
  });

  it("scopes the dirty check to the policy directory and sees untracked fragments", async () => {
    const dir = await repo();
    const r = await requirePolicyRepo(dir, "policies");
    writeFileSync(join(dir, "README.md"), "unrelated\n");
    expect(await dirtyPolicyFiles(r)).toEqual([]);
    writeFileSync(join(dir, "policies/extra.yaml"), "channels: {}\n");
    expect(await dirtyPolicyFiles(r)).toEqual(["policies/extra.yaml"]);
  });

  it("ignores policies/tests and reads a nested policy directory", async () => {
    const dir = await repo();
    mkdirSync(join(dir, "config"), { recursive: true });
    renameSync(join(dir, "policies"), join(dir, "config/limitr"));
    mkdirSync(join(dir, "config/limitr/tests"), { recursive: true });
    writeFileSync(join(dir, "config/limitr/tests/a.yaml"), "cases: []\n");
    await commitAll(dir, "move");
    const r = await requirePolicyRepo(dir, "config/limitr");
    const { files } = await policyFilesAtRef(r, "HEAD");
    expect(files.map((f) => f.path)).not.toContain("config/limitr/tests/a.yaml");
    expect(files).toHaveLength(5);
  });

  it("explains a ref that does not contain the policy directory", async () => {
    const dir = await repo({ commit: false });
    writeFileSync(join(dir, "README.md"), "first\n");
    await git(dir, "add", "README.md");
    await git(dir, "commit", "-q", "-m", "readme only");
    await commitAll(dir, "policies");
    const r = await requirePolicyRepo(dir, "policies");
    await expect(policyFilesAtRef(r, "HEAD~1")).rejects.toThrow(PolicyError);
    await expect(policyFilesAtRef(r, "HEAD~1")).rejects.toThrow(/no policy files under policies/);
    await expect(policyFilesAtRef(r, "no-such-branch")).rejects.toThrow(/not a commit, branch or tag/);
  });

  it("handles a repository with no commits", async () => {
    const dir = await repo({ commit: false });
    const r = await requirePolicyRepo(dir, "policies");
    expect(await headCommit(r)).toBeNull();
    await expect(policyFilesAtRef(r, "HEAD")).rejects.toThrow(/no commits yet/);
  });

  it("returns null outside a git repository", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-nogit-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, "policies"));
    expect(await findPolicyRepo(dir, "policies")).toBeNull();
  });
});
