import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { canonicalJson, compilePolicy } from "../../src/engine/core/compile.js";

const EXAMPLE = "policies";

/** Rebuild a parsed YAML value with every map's keys in the order `order` gives. */
function reorder(value: unknown, order: (keys: string[]) => string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, order));
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(order(Object.keys(obj)).map((k) => [k, reorder(obj[k], order)]));
  }
  return value;
}

describe("the compiler", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tempCopy = () => {
    const d = mkdtempSync(join(tmpdir(), "limitr-compile-"));
    dirs.push(d);
    return d;
  };
  const reference = canonicalJson(loadValidPolicy(EXAMPLE));

  it("gives byte-identical canonical JSON for the same policy, every time", () => {
    expect(canonicalJson(loadValidPolicy(EXAMPLE))).toBe(reference);
    expect(JSON.parse(reference)).toEqual(loadValidPolicy(EXAMPLE));
  });

  it("does not depend on the order keys are written in", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        let s = seed;
        const shuffle = (keys: string[]) => {
          const out = [...keys];
          for (let i = out.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) & 0x7fffffff;
            const j = s % (i + 1);
            [out[i], out[j]] = [out[j] as string, out[i] as string];
          }
          return out;
        };
        const d = tempCopy();
        for (const f of readdirSync(EXAMPLE).filter((n) => n.endsWith(".yaml"))) {
          const doc = parse(readFileSync(join(EXAMPLE, f), "utf8"));
          writeFileSync(join(d, f), stringify(reorder(doc, shuffle)));
        }
        expect(canonicalJson(loadValidPolicy(d))).toBe(reference);
      }),
      { numRuns: 8 },
    );
  });

  it("does not depend on how the policy is split into files", () => {
    const merged: Record<string, unknown> = {};
    for (const f of readdirSync(EXAMPLE).filter((n) => n.endsWith(".yaml"))) {
      Object.assign(merged, parse(readFileSync(join(EXAMPLE, f), "utf8")));
    }
    const one = tempCopy();
    writeFileSync(join(one, "all.yaml"), stringify(merged));
    expect(canonicalJson(loadValidPolicy(one))).toBe(reference);

    const split = tempCopy();
    cpSync(EXAMPLE, split, { recursive: true });
    const plans = parse(readFileSync(join(EXAMPLE, "plans.yaml"), "utf8")).plans as Record<string, unknown>;
    const { enterprise, ...rest } = plans;
    writeFileSync(join(split, "plans.yaml"), stringify({ plans: rest }));
    writeFileSync(join(split, "enterprise.yaml"), stringify({ plans: { enterprise } }));
    expect(canonicalJson(loadValidPolicy(split))).toBe(reference);
  });

  it("fills defaults and expands overage into graduated tiers (SPEC §2.3)", () => {
    const p = compilePolicy({
      limitr: 1,
      meters: { t: { event: "e", aggregation: "sum", property: "n" } },
      plans: { p: { entitlements: { chat: { meter: "t", limit: 100, overage: "0.25" }, flag: true } } },
    });
    expect(p.currency).toBe("USD");
    expect(p.currencyDigits).toBe(2);
    expect(p.timezone).toBe("UTC");
    const plan = p.plans.p!;
    expect(plan).toMatchObject({
      price: "0",
      interval: "month",
      anchor: "calendar",
      trialDays: 0,
      minimum: "0",
    });
    expect(plan.entitlements.chat).toEqual({
      kind: "metered",
      id: "chat",
      meter: "t",
      limit: 100,
      period: "month",
      mode: "hard",
      scope: "customer",
      price: {
        model: "graduated",
        tiers: [
          { upTo: 100, unitPrice: "0", flatFee: "0" },
          { upTo: null, unitPrice: "0.25", flatFee: "0" },
        ],
      },
      rate: null,
    });
    expect(plan.entitlements.flag).toEqual({ kind: "flag", id: "flag", enabled: true });
  });
});
