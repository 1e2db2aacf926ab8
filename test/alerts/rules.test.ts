import { describe, expect, it } from "vitest";
import {
  type AlertVars,
  checkRule,
  compileRules,
  projectUsage,
  ruleApplies,
  transition,
} from "../../src/engine/core/alerts/rules.js";
import { compilePolicy } from "../../src/engine/core/compile.js";

const vars = (over: Partial<AlertVars> = {}): AlertVars => ({
  customer: "globex",
  plan: "pro",
  parent: "",
  metadata: { segment: "growth" },
  entitlement: "chat",
  usage: 850,
  limit: 1000,
  remaining: 150,
  usage_percent: 85,
  projected_usage: 1700,
  projected_percent: 170,
  spend: 49,
  cost: 10,
  margin_percent: 79.6,
  balance: 0,
  available: null,
  cap_spend: null,
  cap_percent: null,
  ...over,
});

describe("alert rule checking", () => {
  it("accepts the spec's example rule", () => {
    expect(checkRule('usage_percent >= 80 && plan == "pro"')).toBeNull();
  });
  it("reports a syntax error as syntax", () => {
    expect(checkRule("usage_percent >=")?.kind).toBe("syntax");
  });
  it("reports an unknown variable as a type problem", () => {
    expect(checkRule("usage_pct >= 80")?.kind).toBe("type");
  });
  it("rejects an expression that is not a condition", () => {
    expect(checkRule("usage + 1")).toMatchObject({ kind: "type" });
  });
});

describe("alert rule evaluation", () => {
  const policy = compilePolicy({
    limitr: 1,
    alerts: {
      pro80: { when: 'usage_percent >= 80 && plan == "pro"', channels: ["x"] },
      growth: { when: 'metadata.segment == "growth" && parent == ""', channels: ["x"] },
      capped: { when: "remaining < 100", channels: ["x"] },
      broken: { when: "nope >", channels: ["x"] },
    },
  });
  const rules = new Map(compileRules(policy).map((r) => [r.alert.id, r]));

  it("compiles valid rules once and leaves invalid ones out", () => {
    expect([...rules.keys()].sort()).toEqual(["capped", "growth", "pro80"]);
  });
  it("fires on the figures it names", () => {
    expect(rules.get("pro80")?.test(vars())).toBe(true);
    expect(rules.get("pro80")?.test(vars({ usage_percent: 79.9 }))).toBe(false);
    expect(rules.get("pro80")?.test(vars({ plan: "free" }))).toBe(false);
  });
  it("reads metadata and the account tree", () => {
    expect(rules.get("growth")?.test(vars())).toBe(true);
    expect(rules.get("growth")?.test(vars({ parent: "acme" }))).toBe(false);
  });
  it("treats an evaluation error (null limit compared) as not firing", () => {
    expect(rules.get("capped")?.test(vars({ remaining: 50 }))).toBe(true);
    expect(rules.get("capped")?.test(vars({ remaining: null, limit: null }))).toBe(false);
  });
});

describe("alert scoping and firing discipline", () => {
  const alert = {
    id: "a",
    when: "true",
    entitlement: "chat",
    plans: ["pro"],
    customers: [],
    channels: [],
    once: "period" as const,
  };
  it("applies only to its entitlement and plans", () => {
    expect(ruleApplies(alert, "c", "pro", "chat")).toBe(true);
    expect(ruleApplies(alert, "c", "free", "chat")).toBe(false);
    expect(ruleApplies(alert, "c", "pro", "api")).toBe(false);
  });
  it("once: period fires once and stays triggered while the condition holds or not", () => {
    let t = transition("period", "armed", true);
    expect(t).toEqual({ state: "triggered", notify: "triggered" });
    t = transition("period", t.state, true);
    expect(t.notify).toBeNull();
    t = transition("period", t.state, false);
    expect(t).toEqual({ state: "triggered", notify: null });
  });
  it("once: crossing re-arms with a resolved notice and fires again", () => {
    let t = transition("crossing", "armed", true);
    t = transition("crossing", t.state, false);
    expect(t).toEqual({ state: "armed", notify: "resolved" });
    t = transition("crossing", t.state, true);
    expect(t.notify).toBe("triggered");
  });
  it("projects usage linearly to the period end", () => {
    const day = 86_400_000;
    expect(projectUsage(100, 0, 30 * day, 10 * day)).toBeCloseTo(300);
    expect(projectUsage(100, 0, 30 * day, 0)).toBe(100);
    expect(projectUsage(100, 0, 30 * day, 40 * day)).toBeCloseTo(100);
  });
});
