import { Chalk } from "chalk";
import { describe, expect, it } from "vitest";
import { renderDiff } from "../../src/cli/render/diff.js";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { ID_SECTIONS } from "../../src/engine/core/policy/merge.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";

const compile = (text: string): CompiledPolicy => {
  const r = validatePolicyFiles([{ path: "limitr.yaml", text }]);
  if (!r.policy) throw new Error(JSON.stringify(r.diagnostics));
  return r.policy;
};

const base = compile(`limitr: 1
name: acme
currency: USD
timezone: America/New_York
bundles: { store: .limitr/bundles, environments: [staging] }
plans:
  free: { default: true }
  pro: {}
`);
/** Every top-level setting (not an id section) changed at once. */
const head = compile(`limitr: 1
name: acme-ai
currency: JPY
timezone: Europe/Paris
bundles: { store: https://cdn.example.com/limitr, environments: [staging, production] }
plans:
  free: {}
  pro: { default: true }
`);
const plain = new Chalk({ level: 0 });

describe("limitr diff text output", () => {
  it("names every changed top-level setting in full", () => {
    const diff = diffPolicies(base, head);
    const text = renderDiff({ base: side("main"), head: side("work tree"), diff }, "text", plain);
    // formatVersion cannot change within a format; currencyDigits follows currency (the diff reports currency).
    const settings = Object.keys(base).filter(
      (k) =>
        !(ID_SECTIONS as readonly string[]).includes(k) && !["formatVersion", "currencyDigits"].includes(k),
    );
    expect(settings.sort()).toEqual(["bundles", "currency", "defaultPlan", "name", "timezone"]);
    for (const setting of settings) {
      const changes = diff.changes.filter((c) => c.path === setting || c.path.startsWith(`${setting}.`));
      expect(changes.length, setting).toBeGreaterThan(0);
      for (const c of changes) {
        expect(text).toContain(`~ ${c.path}: ${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)}`);
      }
    }
  });
});

function side(ref: string) {
  return { ref, commit: null, digest: "sha256:0" };
}
