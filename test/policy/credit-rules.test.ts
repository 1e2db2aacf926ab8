import { describe, expect, it } from "vitest";
import { codes, withBase } from "./helpers.js";

const units = (body: string) => ({ "credits.yaml": `credit_units:\n${body}` });

describe("credit units and caps: validation (SPEC §12)", () => {
  it("a valid credit unit compiles and can be an entitlement's meter", () => {
    const r = withBase({
      ...units(
        "  credits:\n    value: 0.01\n    rates:\n      tokens: { by: model, rates: { gpt-4o: 0.25 }, per: 1000, default: 0.1 }\n      calls: 4\n",
      ),
      "plans.yaml": "plans:\n  p:\n    entitlements:\n      chat: { meter: credits, limit: 100 }\n",
    });
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.creditUnits?.credits).toEqual({
      id: "credits",
      description: null,
      value: "0.01",
      rates: {
        calls: { by: null, rates: {}, default: "4", per: "1" },
        tokens: { by: "model", rates: { "gpt-4o": "0.25" }, default: "0.1", per: "1000" },
      },
    });
  });

  it("credit-unit/unknown-meter suggests the closest meter, located at the rate", () => {
    const r = withBase(units("  credits:\n    rates:\n      token: 1\n"));
    expect(r.diagnostics).toMatchObject([
      {
        code: "credit-unit/unknown-meter",
        file: "credits.yaml",
        line: 4,
        column: 7,
        hint: 'did you mean "tokens"?',
      },
    ]);
  });

  it("a rate that is not a decimal is a schema error naming the field", () => {
    const r = withBase(units("  credits:\n    rates:\n      tokens: lots\n"));
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics[0]).toMatchObject({
      file: "credits.yaml",
      line: 4,
      path: "credit_units.credits.rates.tokens",
    });
  });

  it("per must be > 0; rates need a by; a table needs some rate", () => {
    const r = withBase(
      units(
        "  credits:\n    rates:\n      tokens: { by: model, rates: { a: 1 }, per: '0' }\n      calls: { rates: { a: 1 } }\n  other:\n    rates:\n      calls: { per: 10 }\n",
      ),
    );
    expect(codes(r.diagnostics).sort()).toEqual([
      "credit-unit/no-rate",
      "credit-unit/per",
      "credit-unit/rates-without-by",
    ]);
    expect(r.diagnostics.find((d) => d.code === "credit-unit/per")).toMatchObject({ line: 4 });
  });

  it("a credit unit may not be named like a meter, nor rate max/latest meters", () => {
    const r = withBase({
      "meters.yaml":
        "meters:\n  tokens: { event: llm, property: tokens }\n  peak: { event: s, aggregation: max, property: gb }\n",
      ...units("  tokens:\n    rates:\n      peak: 1\n"),
    });
    expect(codes(r.diagnostics).sort()).toEqual(["credit-unit/aggregation", "credit-unit/named-like-meter"]);
  });

  it("credit-unit/cycle: units rating each other in a loop, reported once; a chain is fine", () => {
    const r = withBase(
      units(
        "  a:\n    rates: { b: 1 }\n  b:\n    rates: { c: 2 }\n  c:\n    rates: { a: 1, tokens: 1 }\n  d:\n    rates: { a: 1 }\n",
      ),
    );
    expect(codes(r.diagnostics)).toEqual(["credit-unit/cycle"]);
    expect(r.diagnostics[0]?.message).toContain("a -> b -> c -> a");
    expect(
      withBase(units("  a:\n    rates: { b: 1 }\n  b:\n    rates: { tokens: 2 }\n")).diagnostics,
    ).toEqual([]);
  });

  it("credit-unit/by-on-unit: another credit unit is rated at one flat rate", () => {
    const r = withBase(
      units("  a:\n    rates: { b: { by: model, rates: { x: 1 } } }\n  b:\n    rates: { tokens: 2 }\n"),
    );
    expect(codes(r.diagnostics)).toEqual(["credit-unit/by-on-unit"]);
  });

  it("caps: listed entitlements must exist in the plan (the customer's plan for a contract cap)", () => {
    const r = withBase({
      "plans.yaml":
        "plans:\n  p:\n    caps:\n      daily: { amount: 5.00, period: day, entitlements: [chat, image] }\n    entitlements:\n      chat: { meter: tokens }\n      images: { meter: calls }\n",
      "customers.yaml":
        "customers:\n  acme:\n    plan: p\n    caps:\n      big: { amount: 50, period: month, entitlements: [chat], mode: soft }\n      bad: { amount: 1, period: month, entitlements: [search] }\n",
    });
    expect(r.diagnostics).toMatchObject([
      { code: "cap/unknown-entitlement", file: "plans.yaml", line: 4, hint: 'did you mean "images"?' },
      { code: "cap/unknown-entitlement", file: "customers.yaml", line: 6 },
    ]);
  });

  it("caps: amount, period and entitlements are required, mode is hard or soft", () => {
    const r = withBase({
      "plans.yaml":
        "plans:\n  p:\n    caps:\n      daily: { amount: 5, period: fortnight, entitlements: [], mode: strict }\n",
    });
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(2);
    expect(r.diagnostics.every((d) => d.file === "plans.yaml" && d.line === 4)).toBe(true);
  });

  it("a policy without credit units or caps compiles without the new fields (digests unchanged)", () => {
    const r = withBase({ "plans.yaml": "plans:\n  p:\n    entitlements:\n      chat: { meter: tokens }\n" });
    expect(r.policy).toBeDefined();
    expect("creditUnits" in (r.policy ?? {}) && r.policy?.creditUnits !== undefined).toBe(false);
    expect(JSON.stringify(r.policy)).not.toContain("caps");
  });
});
