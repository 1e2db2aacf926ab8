import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { limitr } from "./run-cli.js";

const fresh = () => mkdtempSync(join(tmpdir(), "limitr-init-"));

describe("limitr init", () => {
  it("scaffolds a policy repo that validates cleanly", async () => {
    const root = fresh();
    const r = await limitr(["init", "acme"], root);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Next steps:");
    for (const f of ["limitr.yaml", "meters.yaml", "plans.yaml", "customers.yaml", "alerts.yaml"]) {
      expect(existsSync(join(root, "acme", "policies", f))).toBe(true);
    }
    const v = await limitr(["validate", "--policies", "acme/policies"], root);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toContain("acme/policies/ is valid");
  });

  it("writes a CI workflow that validates pull requests with GitHub annotations", async () => {
    const root = fresh();
    await limitr(["init"], root);
    const workflow = parse(readFileSync(join(root, ".github", "workflows", "limitr.yml"), "utf8")) as {
      on: { pull_request: unknown };
      jobs: { policy: { steps: { run?: string }[] } };
    };
    expect(workflow.on.pull_request).toBeDefined();
    expect(workflow.jobs.policy.steps.map((s) => s.run)).toContain("npx limitr validate --format github");
  });

  it("ignores the local store in git and points editors at the installed schema", async () => {
    const root = fresh();
    await limitr(["init"], root);
    expect(readFileSync(join(root, ".gitignore"), "utf8").split("\n")).toContain(".limitr/");
    expect(readFileSync(join(root, "policies", "plans.yaml"), "utf8").split("\n")[0]).toBe(
      "# yaml-language-server: $schema=../node_modules/limitr/schemas/policy.schema.json",
    );
  });

  it("refuses a non-empty directory without --force and writes nothing", async () => {
    const root = fresh();
    writeFileSync(join(root, "README.md"), "mine\n");
    const r = await limitr(["init"], root);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("--force");
    expect(existsSync(join(root, "policies"))).toBe(false);
  });

  it("--force writes into a non-empty directory and keeps an existing .gitignore's lines", async () => {
    const root = fresh();
    writeFileSync(join(root, ".gitignore"), "dist/\n");
    const r = await limitr(["init", "--force"], root);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(root, ".gitignore"), "utf8")).toBe("dist/\n.limitr/\n");
    expect((await limitr(["validate"], root)).exitCode).toBe(0);
  });

  it("treats a directory holding only .git as empty", async () => {
    const root = fresh();
    mkdirSync(join(root, ".git"));
    expect((await limitr(["init"], root)).exitCode).toBe(0);
  });
});
