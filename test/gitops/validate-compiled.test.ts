import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/adapters/policy-source.js";
import { validateCompiledPolicy } from "../../src/core/bundles/validate-compiled.js";
import type { CompiledPolicy } from "../../src/core/model.js";

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
