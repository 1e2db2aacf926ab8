import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { limitr } from "./run-cli.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CLI_DIR = join(REPO, "src", "cli");
const CLI_VERSION = JSON.parse(readFileSync(join(CLI_DIR, "package.json"), "utf8")).version as string;
const fresh = () => mkdtempSync(join(tmpdir(), "limitr-init-"));

interface Step {
  name?: string;
  if?: string;
  run?: string;
  env?: Record<string, string>;
}
interface Job {
  if: string;
  env: Record<string, string>;
  permissions: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: { pull_request?: unknown; push?: { branches?: string[] } };
  jobs: { policy: Job; publish: Job };
}

const readWorkflow = (root: string) =>
  parse(readFileSync(join(root, ".github", "workflows", "limitr.yml"), "utf8")) as Workflow;
const runs = (job: Job) => job.steps.flatMap((s) => (s.run ? [s.run.trim()] : []));

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
    const workflow = readWorkflow(root);
    expect(workflow.on.pull_request).toBeDefined();
    expect(runs(workflow.jobs.policy)).toContain("npx --no-install limitr validate --format github");
  });

  it("the pull request job tests, diffs against the base branch and reports on the pull request", async () => {
    const root = fresh();
    await limitr(["init"], root);
    const job = readWorkflow(root).jobs.policy;
    expect(job.if).toBe("github.event_name == 'pull_request'");
    expect(job.env.BASE).toBe("origin/${{ github.base_ref }}");
    const cmds = runs(job);
    const at = (text: string) => cmds.findIndex((c) => c.includes(text));
    expect(at("npx --no-install limitr validate")).toBeLessThan(at("npx --no-install limitr test"));
    expect(cmds).toContain("npx --no-install limitr test");
    expect(cmds[at("npx --no-install limitr diff")]).toContain(
      'npx --no-install limitr diff "$BASE" HEAD --format markdown',
    );
    expect(cmds[at("gh pr comment")]).toContain('cat limitr-report.md >> "$GITHUB_STEP_SUMMARY"');
    expect(job.permissions["pull-requests"]).toBe("write");
  });

  it("simulates last month only when a usage store is configured", async () => {
    const root = fresh();
    await limitr(["init"], root);
    const job = readWorkflow(root).jobs.policy;
    expect(job.env.LIMITR_DB).toBe("${{ vars.LIMITR_DB }}");
    const sim = job.steps.find((s) => s.run?.includes("npx --no-install limitr simulate"));
    expect(sim?.if).toBe("env.LIMITR_DB != ''");
    expect(sim?.run).toContain(
      '--db "$LIMITR_DB" --base "$BASE" --head HEAD --period "$period" --format markdown',
    );
    // The period is the previous calendar month: check the shell arithmetic GNU date is given.
    expect(sim?.run).toContain('period=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)');
  });

  it("publishes from main after validating and testing, signing with a key from a secret", async () => {
    const root = fresh();
    await limitr(["init"], root);
    const workflow = readWorkflow(root);
    expect(workflow.on.push?.branches).toEqual(["main"]);
    const job = workflow.jobs.publish;
    expect(job.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
    const cmds = runs(job);
    const push = cmds.findIndex((c) =>
      c.includes("npx --no-install limitr push --env production --sign-key"),
    );
    expect(cmds.indexOf("npx --no-install limitr validate")).toBeGreaterThanOrEqual(0);
    expect(cmds.indexOf("npx --no-install limitr validate")).toBeLessThan(
      cmds.indexOf("npx --no-install limitr test"),
    );
    expect(cmds.indexOf("npx --no-install limitr test")).toBeLessThan(push);
    expect(job.steps.find((s) => s.run?.includes("limitr push"))?.env?.LIMITR_SIGNING_KEY).toBe(
      "${{ secrets.LIMITR_SIGNING_KEY }}",
    );
  });

  it("uses only commands and flags the CLI has", async () => {
    const root = fresh();
    await limitr(["init"], root);
    const workflow = readWorkflow(root);
    const lines = [...runs(workflow.jobs.policy), ...runs(workflow.jobs.publish)]
      .flatMap((r) => r.split("\n"))
      .filter((l) => l.includes("npx --no-install limitr "));
    expect(lines.length).toBeGreaterThanOrEqual(7);
    for (const line of lines) {
      const words = (line.split("npx --no-install limitr ")[1] ?? "").split(" ");
      const command = words[0] as string;
      const help = await limitr([command, "--help"], root);
      expect(help.exitCode, `limitr ${command} --help`).toBe(0);
      for (const flag of words.filter((w) => w.startsWith("--"))) {
        expect(`${help.stdout}\n--policies --db`, `${command} ${flag}`).toContain(flag);
      }
    }
  });

  it("a freshly initialised repo's policy tests pass", async () => {
    const root = fresh();
    await limitr(["init"], root);
    expect(existsSync(join(root, "policies", "tests"))).toBe(true);
    const r = await limitr(["test"], root);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/\n\d+ passed, 0 failed$/);
  });

  it("pins this CLI as a devDependency and CI installs exactly that (npm ci, npx --no-install)", async () => {
    const root = fresh();
    await limitr(["init", "Acme Pricing"], root);
    const dir = join(root, "Acme Pricing");
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg.name).toBe("acme-pricing");
    expect(pkg.private).toBe(true);
    expect(pkg.devDependencies).toEqual({ "limitr-cli": CLI_VERSION });
    const workflow = readWorkflow(dir);
    for (const job of [workflow.jobs.policy, workflow.jobs.publish]) {
      const cmds = runs(job);
      expect(cmds[0]).toBe("npm ci");
      // Every limitr run is the pinned one: nothing can fetch another package of that name.
      for (const c of cmds.filter((c) => /\blimitr\b/.test(c) && c.includes("npx"))) {
        expect(c).not.toMatch(/npx (?!--no-install limitr)/);
      }
    }
  });

  it("--force keeps an existing package.json and adds the pin only when the CLI is not listed", async () => {
    const root = fresh();
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "mine", scripts: { x: "y" } }));
    expect((await limitr(["init", "--force"], root)).exitCode).toBe(0);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg).toEqual({
      name: "mine",
      scripts: { x: "y" },
      devDependencies: { "limitr-cli": CLI_VERSION },
    });

    const pinned = fresh();
    writeFileSync(join(pinned, "package.json"), JSON.stringify({ dependencies: { "limitr-cli": "0.1.9" } }));
    expect((await limitr(["init", "--force"], pinned)).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(pinned, "package.json"), "utf8"))).toEqual({
      dependencies: { "limitr-cli": "0.1.9" },
    });

    const broken = fresh();
    writeFileSync(join(broken, "package.json"), "{ nope");
    const r = await limitr(["init", "--force"], broken);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("package.json: not valid JSON");
  });

  it("ignores the local store in git and points editors at the schema the installed CLI ships", async () => {
    const root = fresh();
    await limitr(["init"], root);
    expect(readFileSync(join(root, ".gitignore"), "utf8").split("\n")).toContain(".limitr/");
    // What `npm install` makes of the pin: node_modules/limitr-cli is this package.
    mkdirSync(join(root, "node_modules"));
    symlinkSync(CLI_DIR, join(root, "node_modules", "limitr-cli"), "dir");
    const files = readdirSync(join(root, "policies"), { recursive: true, encoding: "utf8" });
    const yamlFiles = files.filter((f) => f.endsWith(".yaml") && !f.startsWith("tests"));
    expect(yamlFiles.length).toBeGreaterThanOrEqual(5);
    for (const f of yamlFiles) {
      const file = join(root, "policies", f);
      const ref = readFileSync(file, "utf8").match(/^# yaml-language-server: \$schema=(.*)$/m)?.[1];
      expect(ref, f).toBeDefined();
      const target = resolve(dirname(file), ref as string);
      expect(readFileSync(target, "utf8"), f).toBe(
        readFileSync(join(REPO, "schemas", "policy.schema.json"), "utf8"),
      );
    }
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
