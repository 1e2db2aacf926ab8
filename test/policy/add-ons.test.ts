import { describe, expect, it } from "vitest";
import { stackedPlan } from "../../src/engine/core/add-ons.js";
import { validateCompiledPolicy } from "../../src/engine/core/bundles/validate-compiled.js";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import type { CompiledPolicy, MeteredEntitlement } from "../../src/engine/core/model.js";
import { codes, withBase } from "./helpers.js";

/**
 * Add-ons (SPEC §15) in the policy format: the `add_on` plan field, a
 * contract's `add_ons`, the rules that keep them stackable, what stacking
 * compiles to, and how the semantic diff reports them.
 */
const PLANS = `plans:
  pro:
    price: 30
    entitlements:
      chat: { meter: tokens, limit: 1000, mode: soft, overage: 0.01 }
      export: false
  extra:
    add_on: true
    price: 10
    entitlements:
      chat: { meter: tokens, limit: 500 }
      export: true
  unlimited:
    add_on: true
    price: 50
    entitlements:
      chat: { meter: tokens }
`;

function compiled(customers = ""): CompiledPolicy {
  const r = withBase({ "plans.yaml": PLANS, "customers.yaml": customers || "customers: {}\n" });
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (!r.policy || errors.length > 0) throw new Error(JSON.stringify(errors));
  return r.policy;
}

const metered = (p: CompiledPolicy, plan: string, addOns: string[], id: string) =>
  stackedPlan(p.plans, plan, addOns)?.entitlements[id] as MeteredEntitlement;

describe("§15 add-ons: policy format", () => {
  it("compiles add_on and a contract's add_ons (sorted, once each)", () => {
    const p = compiled("customers:\n  acme: { plan: pro, add_ons: [unlimited, extra] }\n");
    expect(p.plans.extra?.addOn).toBe(true);
    expect(p.plans.pro?.addOn).toBeUndefined();
    expect(p.customers.acme?.addOns).toEqual(["extra", "unlimited"]);
  });

  it("stacks limits by adding them, and an overage allowance ends at the stacked limit", () => {
    const p = compiled();
    const chat = metered(p, "pro", ["extra"], "chat");
    expect(chat.limit).toBe(1500);
    expect(chat.mode).toBe("soft");
    expect(chat.price).toEqual({
      model: "graduated",
      tiers: [
        { upTo: 1500, unitPrice: "0", flatFee: "0" },
        { upTo: null, unitPrice: "0.01", flatFee: "0" },
      ],
    });
    // A base plan alone is unchanged.
    expect(metered(p, "pro", [], "chat").limit).toBe(1000);
  });

  it("an unlimited add-on makes the entitlement unlimited, with no overage left to charge", () => {
    const chat = metered(compiled(), "pro", ["extra", "unlimited"], "chat");
    expect(chat.limit).toBeNull();
    expect(chat.price).toEqual({ model: "graduated", tiers: [{ upTo: null, unitPrice: "0", flatFee: "0" }] });
  });

  it("a flag is enabled when the base plan or an add-on enables it", () => {
    const p = compiled();
    expect(stackedPlan(p.plans, "pro", ["extra"])?.entitlements.export).toEqual({
      kind: "flag",
      id: "export",
      enabled: true,
    });
    expect(stackedPlan(p.plans, "pro", [])?.entitlements.export).toMatchObject({ enabled: false });
  });
});

describe("§15 add-ons in bundles (R15)", () => {
  it("a compiled policy with add-ons passes the activation check; a contract on an add-on plan does not", () => {
    const p = compiled("customers:\n  acme: { plan: pro, add_ons: [extra] }\n");
    expect(validateCompiledPolicy(p)).toEqual([]);
    const tampered = structuredClone(p);
    (tampered.customers.acme as { plan: string }).plan = "extra";
    expect(validateCompiledPolicy(tampered).join("\n")).toContain("[add-on/as-base-plan]");
  });
});

describe("§15 add-ons: validation rules, located", () => {
  const run = (customers: string, plans = PLANS) =>
    withBase({ "plans.yaml": plans, "customers.yaml": customers }).diagnostics;

  it("an unknown add-on is an error at the list entry, with a suggestion", () => {
    const d = run("customers:\n  acme:\n    plan: pro\n    add_ons: [extra, extar]\n");
    const e = d.find((x) => x.code === "ref/unknown-add-on");
    expect(e).toMatchObject({ file: "customers.yaml", line: 4, path: "customers.acme.add_ons[1]" });
    expect(e?.hint).toContain("extra");
  });

  it("a duplicate add-on is an error at its second mention", () => {
    const d = run("customers:\n  acme:\n    plan: pro\n    add_ons:\n      - extra\n      - extra\n");
    expect(d.find((x) => x.code === "add-on/duplicate")).toMatchObject({
      file: "customers.yaml",
      line: 6,
      path: "customers.acme.add_ons[1]",
    });
  });

  it("an add-on cannot be a contract's base plan, nor can a base plan be held as an add-on", () => {
    const d = run("customers:\n  acme:\n    plan: extra\n  globex:\n    plan: pro\n    add_ons: [pro]\n");
    expect(d.find((x) => x.code === "add-on/as-base-plan")).toMatchObject({
      line: 3,
      path: "customers.acme.plan",
    });
    expect(d.find((x) => x.code === "add-on/not-an-add-on")).toMatchObject({
      line: 6,
      path: "customers.globex.add_ons[0]",
    });
  });

  it("add-ons need a plan in the same contract", () => {
    const d = run("customers:\n  acme:\n    add_ons: [extra]\n");
    expect(codes(d)).toContain("add-on/without-plan");
  });

  it("an add-on plan cannot be the default or carry a wallet, caps or a minimum", () => {
    const plans = `${PLANS}  bad:\n    add_on: true\n    default: true\n    minimum: 5\n`;
    const d = run("customers: {}\n", plans).filter((x) => x.code === "add-on/base-only-field");
    expect(d.map((x) => [x.path, x.line])).toEqual([
      ["plans.bad.default", 20],
      ["plans.bad.minimum", 21],
    ]);
  });

  it("an add-on entitlement must count the same meter over the same period as the base plan's", () => {
    const plans = `${PLANS}  daily:\n    add_on: true\n    entitlements:\n      chat: { meter: calls, limit: 5, period: day }\n`;
    const d = run("customers: {}\n", plans).find((x) => x.code === "add-on/entitlement-mismatch");
    expect(d).toMatchObject({ path: "plans.daily.entitlements.chat", line: 21 });
    expect(d?.message).toContain("meter calls, period day");
  });

  it("malformed entitlements (a meter that is a map) are left to the schema stage, never a crash", () => {
    const plans = PLANS.replace(
      "chat: { meter: tokens, limit: 500 }",
      "chat: { meter: { a: 1 }, period: { every: {} } }",
    );
    expect(() => run("customers: {}\n", plans)).not.toThrow();
    expect(codes(run("customers: {}\n", plans))).not.toContain("add-on/entitlement-mismatch");
  });

  it("overrides may name what an add-on brings", () => {
    const plans = `${PLANS}  gpu:\n    add_on: true\n    entitlements:\n      gpu: { meter: calls, limit: 5 }\n`;
    const ok = run(
      "customers:\n  acme:\n    plan: pro\n    add_ons: [gpu]\n    overrides: { gpu: { limit: 9 } }\n",
      plans,
    );
    expect(codes(ok)).not.toContain("ref/unknown-entitlement");
    const bad = run("customers:\n  acme:\n    plan: pro\n    overrides: { gpu: { limit: 9 } }\n", plans);
    expect(codes(bad)).toContain("ref/unknown-entitlement");
  });
});

describe("§15 add-ons: semantic diff", () => {
  const base = compiled("customers:\n  acme: { plan: pro, add_ons: [extra] }\n");

  it("adding an add-on to a contract is breaking (its fee is invoiced); removing one is breaking too", () => {
    const added = diffPolicies(
      base,
      compiled("customers:\n  acme: { plan: pro, add_ons: [extra, unlimited] }\n"),
    );
    expect(added.changes).toEqual([
      expect.objectContaining({
        kind: "add",
        path: "customers.acme.addOns.unlimited",
        resource: "customers.acme",
        breaking: true,
        reason: "add-on unlimited added: its fee of 50 is invoiced",
      }),
    ]);
    const removed = diffPolicies(base, compiled("customers:\n  acme: { plan: pro }\n"));
    expect(removed.changes).toEqual([
      expect.objectContaining({
        kind: "remove",
        path: "customers.acme.addOns.extra",
        breaking: true,
        reason: "add-on extra removed: its entitlements no longer stack on the plan",
      }),
    ]);
  });

  it("a raised add-on fee or a lowered add-on limit is breaking", () => {
    const head = withBase({
      "plans.yaml": PLANS.replace("price: 10", "price: 12").replace("limit: 500", "limit: 400"),
      "customers.yaml": "customers:\n  acme: { plan: pro, add_ons: [extra] }\n",
    }).policy as CompiledPolicy;
    const changes = diffPolicies(base, head).changes.map((c) => [c.path, c.breaking, c.reason]);
    expect(changes).toEqual([
      ["plans.extra.entitlements.chat.limit", true, "limit lowered"],
      ["plans.extra.price", true, "add-on fee raised"],
    ]);
  });

  it("marking a plan as an add-on is a noted change", () => {
    const head = withBase({
      "plans.yaml": PLANS.replace("  unlimited:\n    add_on: true\n", "  unlimited:\n"),
      "customers.yaml": "customers:\n  acme: { plan: pro, add_ons: [extra] }\n",
    }).policy as CompiledPolicy;
    const [c] = diffPolicies(base, head).changes;
    expect(c).toMatchObject({ kind: "remove", path: "plans.unlimited.addOn", breaking: false });
    expect(c?.reason).toContain("no longer an add-on");
  });
});
