import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll, edit, limitr, makeRepo } from "./helpers.js";

let dir: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ dir, cleanup } = await makeRepo());
});
afterAll(() => cleanup());

describe("limitr diff (end to end)", () => {
  it("reports no changes on a clean checkout, exit 0 even with --detailed-exitcode", async () => {
    const r = await limitr(dir, ["diff", "--detailed-exitcode"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No changes");
  });

  it("shows a raised pro overage price as breaking between two commits", async () => {
    edit(join(dir, "policies/plans.yaml"), "overage: 0.000003 ", "overage: 0.000004 ");
    // Uncommitted: HEAD vs the work tree already sees it.
    const wt = await limitr(dir, ["diff", "--format", "json"]);
    expect(wt.code).toBe(0);
    expect(JSON.parse(wt.stdout).head.ref).toBe("work tree");
    await commitAll(dir, "pro: raise chat overage");

    const text = await limitr(dir, ["diff", "HEAD~1", "HEAD"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/~ plans\.pro\.entitlements\.chat_input\s+! breaking/);
    expect(text.stdout).toContain('~ price.tiers[1].unitPrice: "0.000003" -> "0.000004"');
    expect(text.stdout).toContain("! breaking: overage price raised");
    expect(text.stdout).toMatch(/Plan: 0 to add, \d+ to change, 0 to destroy \(\d+ breaking\)\./);
    expect(text.stdout).not.toContain("\u001b["); // NO_COLOR

    const json = await limitr(dir, ["diff", "HEAD~1", "HEAD", "--format", "json"]);
    const doc = JSON.parse(json.stdout);
    expect(doc.formatVersion).toBe(1);
    expect(doc.base.ref).toBe("HEAD~1");
    expect(doc.base.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.base.digest).not.toBe(doc.head.digest);
    const change = doc.changes.find(
      (c: { path: string }) => c.path === "plans.pro.entitlements.chat_input.price.tiers[1].unitPrice",
    );
    expect(change).toEqual({
      kind: "change",
      path: "plans.pro.entitlements.chat_input.price.tiers[1].unitPrice",
      resource: "plans.pro.entitlements.chat_input",
      before: "0.000003",
      after: "0.000004",
      breaking: true,
      reason: "overage price raised",
    });
    expect(doc.summary.breaking).toBe(doc.changes.filter((c: { breaking: boolean }) => c.breaking).length);

    const detailed = await limitr(dir, ["diff", "HEAD~1", "HEAD", "--detailed-exitcode"]);
    expect(detailed.code).toBe(2);
    const same = await limitr(dir, ["diff", "HEAD", "HEAD", "--detailed-exitcode"]);
    expect(same.code).toBe(0);
  });

  it("renders markdown for a pull request comment", async () => {
    const r = await limitr(dir, ["diff", "HEAD~1", "HEAD", "--format", "markdown"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^### limitr diff `HEAD~1 \([0-9a-f]{7}\)` → `HEAD \([0-9a-f]{7}\)`/);
    expect(r.stdout).toContain("> [!WARNING]");
    expect(r.stdout).toContain(
      '| ~ | `plans.pro.entitlements.chat_input.price.tiers[1].unitPrice` | `"0.000003"` | `"0.000004"` | **breaking**: overage price raised |',
    );
  });

  it("works from a subdirectory with --policies relative to it", async () => {
    const sub = join(dir, "policies");
    const r = await limitr(sub, ["--policies", ".", "diff", "HEAD~1", "HEAD", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).changes.length).toBeGreaterThan(0);
  });

  it("fails clearly on an unknown ref (exit 1)", async () => {
    const r = await limitr(dir, ["diff", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"nope" is not a commit, branch or tag');
  });

  it("treats HEAD of a repository with no commits as an empty policy", async () => {
    const fresh = await makeRepo({ commit: false });
    try {
      const r = await limitr(fresh.dir, ["diff", "--format", "json"]);
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.summary.add).toBeGreaterThan(0);
      expect(
        doc.changes.some((c: { path: string; kind: string }) => c.path === "plans.pro" && c.kind === "add"),
      ).toBe(true);
      expect(r.stderr).toContain("no commits yet");
    } finally {
      fresh.cleanup();
    }
  });
});
