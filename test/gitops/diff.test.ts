import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { ROOT } from "./helpers.js";

const DIR = join(ROOT, "policies");
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => ({ path: f, text: readFileSync(join(DIR, f), "utf8") }));

/** The example policy with literal text edits applied, through the real validator and compiler. */
function policy(edits: [file: string, from: string, to: string][] = []): CompiledPolicy {
  const files = FILES.map((f) => ({ ...f }));
  for (const [file, from, to] of edits) {
    const target = files.find((f) => f.path === file);
    if (!target?.text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}`);
    target.text = target.text.replace(from, to);
  }
  const r = validatePolicyFiles(files);
  if (!r.policy) throw new Error(JSON.stringify(r.diagnostics.filter((d) => d.severity === "error")));
  return r.policy;
}

const base = policy();
const changesOf = (head: CompiledPolicy) => diffPolicies(base, head).changes;
const only = (head: CompiledPolicy, path: string) => {
  const found = changesOf(head).filter((c) => c.path === path);
  expect(found).toHaveLength(1);
  return found[0]!;
};

describe("semantic diff", () => {
  it("finds nothing between a policy and itself, and nothing when YAML moves between files", () => {
    expect(changesOf(policy())).toEqual([]);
    const moved = policy([
      ["limitr.yaml", "timezone: America/New_York", ""],
      ["meters.yaml", "meters:", "timezone: America/New_York\nmeters:"],
    ]);
    expect(diffPolicies(base, moved).summary).toEqual({ add: 0, change: 0, remove: 0, breaking: 0 });
  });

  it("flags a raised overage price as breaking, with before and after", () => {
    const c = only(
      policy([["plans.yaml", "overage: 0.000003 ", "overage: 0.000004 "]]),
      "plans.pro.entitlements.chat_input.price.tiers[1].unitPrice",
    );
    expect(c).toMatchObject({ kind: "change", before: "0.000003", after: "0.000004", breaking: true });
    expect(c.reason).toBe("overage price raised");
    expect(c.resource).toBe("plans.pro.entitlements.chat_input");
  });

  it("does not flag a lowered price", () => {
    const c = only(
      policy([["plans.yaml", "overage: 0.000003 ", "overage: 0.000002 "]]),
      "plans.pro.entitlements.chat_input.price.tiers[1].unitPrice",
    );
    expect(c.breaking).toBe(false);
  });

  it("flags a lowered limit and not a raised one", () => {
    const lowered = only(
      policy([["plans.yaml", "limit: 2000000", "limit: 1000000"]]),
      "plans.pro.entitlements.chat_input.limit",
    );
    expect(lowered).toMatchObject({
      before: 2000000,
      after: 1000000,
      breaking: true,
      reason: "limit lowered",
    });
    const raised = only(
      policy([["plans.yaml", "limit: 2000000", "limit: 3000000"]]),
      "plans.pro.entitlements.chat_input.limit",
    );
    expect(raised.breaking).toBe(false);
  });

  it("flags a raised recurring price and a raised graduated tier", () => {
    expect(only(policy([["plans.yaml", "price: 49", "price: 59"]]), "plans.pro.price")).toMatchObject({
      breaking: true,
      reason: "recurring price raised",
    });
    const tier = only(
      policy([
        [
          "plans.yaml",
          "{ up_to: 100000000, unit_price: 0.000002 }",
          "{ up_to: 100000000, unit_price: 0.0000021 }",
        ],
      ]),
      "plans.enterprise.entitlements.chat_input.price.tiers[1].unitPrice",
    );
    expect(tier).toMatchObject({ breaking: true, reason: "tier 2 unit price raised" });
  });

  it("flags a mode made stricter (soft -> hard) and not a looser one", () => {
    const head = policy([
      ["plans.yaml", "limit: 500000\n        mode: soft", "limit: 500000\n        mode: hard"],
    ]);
    expect(only(head, "plans.pro.entitlements.chat_output.mode")).toMatchObject({ breaking: true });
    const looser = policy([["plans.yaml", "limit: 5\n        mode: hard", "limit: 5\n        mode: soft"]]);
    expect(only(looser, "plans.pro.entitlements.seats.mode").breaking).toBe(false);
  });

  it("flags a feature flag turned off or removed", () => {
    const off = policy([
      ["plans.yaml", "      export_pdf: true\n\n  # Contracted", "      export_pdf: false\n\n  # Contracted"],
    ]);
    expect(only(off, "plans.pro.entitlements.export_pdf.enabled")).toMatchObject({
      before: true,
      after: false,
      breaking: true,
      reason: "feature flag turned off",
    });
    const removed = policy([["plans.yaml", "      export_pdf: true\n\n  # Contracted", "\n  # Contracted"]]);
    const c = only(removed, "plans.pro.entitlements.export_pdf");
    expect(c).toMatchObject({ kind: "remove", breaking: true, reason: "feature flag removed" });
    expect(diffPolicies(base, removed).summary).toMatchObject({ remove: 1, breaking: 1 });
  });

  it("flags a changed meter definition (aggregation, property, filter)", () => {
    const head = policy([
      ["meters.yaml", "where: { tool: [web_search, news_search] }", "where: { tool: [web_search] }"],
    ]);
    expect(only(head, "meters.mcp_search.where.tool")).toMatchObject({ breaking: true });
    const prop = policy([["meters.yaml", "property: seconds", "property: gpu_seconds"]]);
    expect(only(prop, "meters.gpu_seconds.property").breaking).toBe(true);
    const desc = policy([
      ["meters.yaml", "description: Requests to the public REST API", "description: REST calls"],
    ]);
    expect(only(desc, "meters.api_calls.description").breaking).toBe(false);
  });

  it("flags removing a plan that customers in the policy are on, naming them", () => {
    const plans = FILES.find((f) => f.path === "plans.yaml")!.text;
    const withTeam = policy([
      [
        "plans.yaml",
        plans,
        `${plans}\n  team:\n    name: Team\n    price: 99\n    entitlements:\n      export_pdf: true\n`,
      ],
    ]);
    const added = diffPolicies(base, withTeam);
    expect(added.changes).toHaveLength(1);
    expect(added.changes[0]).toMatchObject({ kind: "add", path: "plans.team", breaking: false });
    expect(added.summary).toEqual({ add: 1, change: 0, remove: 0, breaking: 0 });
    // Dropping `team` (nobody on it) is not breaking; dropping `pro` (globex, initech) is.
    expect(diffPolicies(withTeam, base).changes[0]).toMatchObject({ kind: "remove", breaking: false });
    const noPro = { ...base, plans: { ...base.plans } };
    delete noPro.plans.pro;
    const c = diffPolicies(base, noPro).changes.find((x) => x.path === "plans.pro")!;
    expect(c).toMatchObject({ kind: "remove", breaking: true });
    expect(c.reason).toContain("globex");
    expect(c.reason).toContain("initech");
  });

  it("diffs contracts: a discount removed and a credit lowered are breaking, keyed by identity", () => {
    const head = policy([
      [
        "customers.yaml",
        "      - { entitlement: mcp_search, percent: 20 }   # negotiated search discount\n",
        "",
      ],
      ["customers.yaml", "{ amount: 25, priority: 2", "{ amount: 20, priority: 2"],
    ]);
    const changes = changesOf(head);
    expect(changes.map((c) => c.path).sort()).toEqual([
      "customers.acme-holdings.discounts.mcp_search",
      "customers.globex.credits.globex#1.amount",
    ]);
    expect(changes.every((c) => c.breaking)).toBe(true);
  });

  it("reports currency and alert changes with their values", () => {
    const head = policy([
      ["limitr.yaml", "currency: USD", "currency: EUR"],
      [
        "alerts.yaml",
        "when: spend > 1000 && margin_percent < 20",
        "when: spend > 2000 && margin_percent < 20",
      ],
    ]);
    const currency = only(head, "currency");
    expect(currency).toMatchObject({ before: "USD", after: "EUR", breaking: true, resource: "policy" });
    expect(only(head, "alerts.thin-margin.when")).toMatchObject({
      before: "spend > 1000 && margin_percent < 20",
      after: "spend > 2000 && margin_percent < 20",
      breaking: false,
    });
  });

  it("flags a customer override removed when the plan gives less", () => {
    const head = policy([["customers.yaml", "    overrides:\n      seats: { limit: 20 }\n", ""]]);
    const c = only(head, "customers.initech.overrides.seats");
    expect(c).toMatchObject({ kind: "remove", breaking: true });
    expect(c.reason).toContain("limit falls back to the plan's 5");
  });
});
