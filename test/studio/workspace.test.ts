import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { overview } from "../../src/cli/studio/overview.js";
import { Workspace } from "../../src/cli/studio/workspace.js";
import { REPO } from "../cli/run-cli.js";

/** A work tree holding a copy of the example policies. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "limitr-studio-ws-"));
  cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
  return { ws: new Workspace(join(dir, "policies"), dir), dir };
}

describe("the studio's workspace", () => {
  it("copies a plan under a new id, right after the original, never as the default plan", () => {
    const { ws, dir } = workspace();
    const result = ws.checkCopy({ from: "free", id: "starter", name: "Starter" });
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.policy?.plans.starter?.name).toBe("Starter");
    expect(result.policy?.defaultPlan).toBe("free");
    // Nothing is written until applied.
    expect(readFileSync(join(dir, "policies/plans.yaml"), "utf8")).not.toContain("starter:");
    ws.applyCopy({ from: "free", id: "starter", name: "Starter" });
    const text = readFileSync(join(dir, "policies/plans.yaml"), "utf8");
    expect(text.indexOf("  starter:")).toBeGreaterThan(text.indexOf("  free:"));
    expect(text.indexOf("  starter:")).toBeLessThan(text.indexOf("  pro:"));
    expect(text.match(/default: true/g)).toHaveLength(1);
    expect(overview(ws.validate().policy!, ws.order()).plans.map((p) => p.id)).toEqual([
      "free",
      "starter",
      "pro",
      "enterprise",
      "payg",
    ]);
  });

  it("refuses a copy under an id that exists or cannot be an id, or of a plan that does not", () => {
    const { ws } = workspace();
    expect(() => ws.checkCopy({ from: "free", id: "pro", name: "" })).toThrow(
      "a plan with id pro already exists",
    );
    expect(() => ws.checkCopy({ from: "free", id: "Pro Plus", name: "" })).toThrow(
      '"Pro Plus" cannot be a plan id',
    );
    expect(() => ws.checkCopy({ from: "gold", id: "gold2", name: "" })).toThrow("no file defines plans.gold");
  });

  it("validates a whole value as the validator would and writes it only when valid", () => {
    const { ws, dir } = workspace();
    const before = readFileSync(join(dir, "policies/customers.yaml"), "utf8");
    const change = { path: ["customers", "globex", "credits"], value: [{ amount: "-5" }] };
    const bad = ws.applyValue(change);
    expect(bad.valid).toBe(false);
    expect(bad.diagnostics.map((d) => `${d.file}:${d.line} ${d.message}`)).toContain(
      "policies/customers.yaml:29 customers.globex.credits[0].amount must be >= 0 (got -5)",
    );
    expect(readFileSync(join(dir, "policies/customers.yaml"), "utf8")).toBe(before);
    const good = ws.applyValue({ path: ["customers", "globex", "credits"], value: [{ amount: "5" }] });
    expect(good.valid).toBe(true);
    expect(ws.read(["customers", "globex", "credits"])).toEqual([{ amount: 5 }]);
  });

  it("edits only inside a plan or a customer", () => {
    const { ws } = workspace();
    expect(() => ws.checkValue({ path: ["meters", "api_calls", "unit"], value: "x" })).toThrow(
      "a path starts with plans.<id> or customers.<id>",
    );
    expect(() => ws.checkValue({ path: ["customers", "nobody", "credits"], value: [] })).toThrow(
      "no file defines customers.nobody",
    );
  });

  it("marks tier tables as written, not overage prices that compile to tiers", () => {
    const { ws } = workspace();
    const plans = overview(ws.validate().policy!, ws.order()).plans;
    const cell = (plan: string, e: string) => plans.find((p) => p.id === plan)?.entitlements[e];
    expect(cell("enterprise", "chat_input")).toMatchObject({ kind: "metered", tiered: true });
    expect(cell("pro", "chat_input")).toMatchObject({ kind: "metered", tiered: false });
  });
});
