import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll, edit, git, limitr, makeRepo, readJson } from "./helpers.js";

/**
 * `limitr push` runs the policy's own tests (policies/tests/*.yaml) before
 * publishing: a policy whose suite fails is not published (exit 4) unless
 * `--skip-tests`, which the manifest records.
 */
let dir: string;
let cleanup: () => void;
const envDir = () => join(dir, ".limitr/bundles/staging");
const version = (n: number) => readJson(join(envDir(), "versions", `${n}.json`));

beforeAll(async () => {
  ({ dir, cleanup } = await makeRepo());
});
afterAll(() => cleanup());

describe("push runs the policy tests first", () => {
  it("a committed policy whose tests fail is not published (exit 4), naming the failing test", async () => {
    // policies/tests/contracts.yaml expects the enterprise fee of 2000.00.
    edit(join(dir, "policies/plans.yaml"), "price: 2000", "price: 2100");
    await commitAll(dir, "enterprise: 2100");
    expect((await limitr(dir, ["test"])).code).toBe(4);
    const r = await limitr(dir, ["push"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("failed: enterprise-graduated-and-volume-prices-with-the-minimum-true-up");
    expect(r.stderr).toMatch(/policy test\(s\) failed; nothing published/);
    expect(existsSync(join(envDir(), "current.json"))).toBe(false);
  });

  it("--skip-tests publishes anyway and records testsSkipped: true in the manifest", async () => {
    const r = await limitr(dir, ["push", "--skip-tests"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("--skip-tests");
    expect(version(1).manifest.testsSkipped).toBe(true);
  });

  it("a policy whose tests pass is published after them, without testsSkipped", async () => {
    await git(dir, "revert", "--no-edit", "HEAD");
    const r = await limitr(dir, ["push"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/policy tests: \d+ passed/);
    const m = version(2).manifest;
    expect(m.version).toBe(2);
    expect("testsSkipped" in m).toBe(false);
  });

  it("an invalid test file stops the push (exit 3)", async () => {
    edit(join(dir, "policies/tests/contracts.yaml"), "tests:", "tests: [");
    const r = await limitr(dir, ["push", "--allow-dirty"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("contracts.yaml");
    expect(readJson(join(envDir(), "current.json")).manifest.version).toBe(2);
    await git(dir, "checkout", "--", "policies/tests/contracts.yaml");
  });
});
