import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { validateCompiledPolicy } from "../../src/engine/core/bundles/validate-compiled.js";
import { canonicalJson } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { decompilePolicy } from "../../src/engine/core/policy/decompile.js";
import { validatePolicyDocument } from "../../src/engine/core/policy/validate.js";

const example = loadValidPolicy(join(import.meta.dirname, "../../policies"));
/** A deep copy of the example policy with one change applied. */
const changed = (change: (p: CompiledPolicy) => void): CompiledPolicy => {
  const p = structuredClone(example);
  change(p);
  return p;
};
const plan = (p: CompiledPolicy, id: string) => p.plans[id] as CompiledPolicy["plans"][string];

describe("validateCompiledPolicy (what a loader runs before activating a bundle)", () => {
  it("accepts what the compiler produces, after a JSON round trip", () => {
    expect(validateCompiledPolicy(JSON.parse(JSON.stringify(example)))).toEqual([]);
  });

  it("refuses what is not a compiled policy of format 1", () => {
    expect(validateCompiledPolicy(null)).toEqual(["the policy is not an object"]);
    expect(validateCompiledPolicy([])).toEqual(["the policy is not an object"]);
    expect(validateCompiledPolicy({ ...example, formatVersion: 2 })).toEqual([
      "formatVersion must be 1 (got 2)",
    ]);
    expect(validateCompiledPolicy({ ...example, plans: undefined })).toEqual(["plans must be an object"]);
  });

  it.each([
    ["currency", (p: CompiledPolicy) => (p.currency = "XYZ"), "currency XYZ is not an ISO 4217 code"],
    [
      "timezone",
      (p: CompiledPolicy) => (p.timezone = "Mars/Olympus"),
      "timezone Mars/Olympus is not an IANA zone",
    ],
    [
      "default plan",
      (p: CompiledPolicy) => (p.defaultPlan = "gone"),
      "defaultPlan gone is not a plan of the policy",
    ],
    [
      "entitlement meter",
      (p: CompiledPolicy) => {
        const { gpu_seconds: _, ...rest } = p.meters;
        p.meters = rest;
      },
      "plans.pro.entitlements.gpu.meter gpu_seconds is not a meter of the policy",
    ],
    [
      "customer plan",
      (p: CompiledPolicy) => {
        const { enterprise: _, ...rest } = p.plans;
        p.plans = rest;
      },
      "customers.acme-holdings.plan enterprise is not a plan of the policy",
    ],
    [
      "customer parent",
      (p: CompiledPolicy) => ((p.customers["acme-research"] as { parent: string }).parent = "nobody"),
      "customers.acme-research.parent nobody is not a customer of the policy",
    ],
    [
      "entitlement mode",
      (p: CompiledPolicy) => ((plan(p, "free").entitlements.api as { mode: string }).mode = "strict"),
      "plans.free.entitlements.api.mode strict is unknown",
    ],
    [
      "negative limit",
      (p: CompiledPolicy) => ((plan(p, "free").entitlements.api as { limit: number }).limit = -1),
      "plans.free.entitlements.api.limit must be null or a number >= 0",
    ],
  ])("names a dangling or invalid %s", (_what, change, message) => {
    expect(validateCompiledPolicy(changed(change as (p: CompiledPolicy) => void))).toContain(message);
  });
});

describe("validateCompiledPolicy runs the validator of `limitr validate` (R15)", () => {
  it("a compiled policy written back in the YAML shape compiles to itself", () => {
    const again = validatePolicyDocument(decompilePolicy(example), "policy");
    expect(again.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(canonicalJson(again.policy)).toBe(canonicalJson(example));
  });

  it.each([
    [
      "a customer parent cycle",
      (p: CompiledPolicy) =>
        ((p.customers["acme-holdings"] as { parent: string | null }).parent = "acme-research"),
      /customers\.acme-holdings is its own ancestor: acme-holdings -> acme-research -> acme-holdings \[customer\/parent-cycle\]/,
    ],
    [
      "tiers out of order",
      (p: CompiledPolicy) => {
        const api = plan(p, "free").entitlements.api as { price: unknown; limit: number | null };
        api.price = {
          model: "volume",
          tiers: [
            { upTo: 10, unitPrice: "1", flatFee: "0" },
            { upTo: 5, unitPrice: "1", flatFee: "0" },
            { upTo: null, unitPrice: "1", flatFee: "0" },
          ],
        };
      },
      /tiers\[1\]\.up_to is 5, not above the previous tier's 10 \[tiers\/not-increasing\]/,
    ],
    [
      "two default plans",
      (p: CompiledPolicy) => (plan(p, "pro").default = true),
      /is marked default, but so is .* \[plan\/multiple-defaults\]/,
    ],
    [
      "an alert that does not parse",
      (p: CompiledPolicy) => {
        const first = Object.values(p.alerts)[0] as { when: string };
        first.when = "usage_percent >=";
      },
      /is not a valid CEL expression.*\[alert\/cel-syntax\]/,
    ],
  ])("rejects %s", (_what, change, message) => {
    const problems = validateCompiledPolicy(JSON.parse(JSON.stringify(changed(change))));
    expect(
      problems.some((m) => message.test(m)),
      problems.join("\n"),
    ).toBe(true);
  });
});
