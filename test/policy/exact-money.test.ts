import { describe, expect, it } from "vitest";
import { withBase } from "./helpers.js";

describe("money stays exact from YAML to the compiled policy (R9)", () => {
  it("an 18-decimal overage reaches the graduated tier as the digits written", () => {
    const r = withBase({
      "plans.yaml":
        "plans:\n  pro:\n    entitlements:\n      chat: { meter: tokens, limit: 1000, mode: soft, overage: 0.123456789012345678 }\n",
    });
    expect(r.diagnostics.map((d) => d.code)).toEqual(["money/precision"]);
    const chat = r.policy?.plans.pro?.entitlements.chat;
    expect(chat?.kind === "metered" && chat.price).toEqual({
      model: "graduated",
      tiers: [
        { upTo: 1000, unitPrice: "0", flatFee: "0" },
        { upTo: null, unitPrice: "0.123456789012345678", flatFee: "0" },
      ],
    });
  });

  it("numbers and decimal strings give the same canonical decimals everywhere money appears", () => {
    const r = withBase({
      "meters.yaml":
        "meters:\n  t: { property: t, cost: { by: model, rates: { big: 0.1234567890123456789 }, default: '0.1' } }\n",
      "plans.yaml": [
        "plans:",
        "  p:",
        "    price: 49.90",
        "    minimum: '1000.10'",
        "    entitlements:",
        "      a: { meter: t, price: { model: package, package_size: 100, package_price: 0.1, free_units: 0 } }",
        "      b: { meter: t, price: { model: percentage, rate: 2.9, fixed_fee: 0.30 } }",
        "",
      ].join("\n"),
      "customers.yaml":
        "customers:\n  c:\n    plan: p\n    discounts: [{ percent: 12.5 }]\n    credits: [{ amount: 0.1 }]\n",
    });
    // Only the 19-place cost rate is flagged; a float would have printed it as 0.12345678901234568.
    expect(r.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "money/precision meters.t.cost.rates.big",
    ]);
    const p = r.policy!;
    expect(p.meters.t?.cost).toEqual({
      by: "model",
      rates: { big: "0.1234567890123456789" },
      default: "0.1",
    });
    expect([p.plans.p?.price, p.plans.p?.minimum]).toEqual(["49.9", "1000.1"]);
    expect(p.plans.p?.entitlements.b).toMatchObject({
      price: { model: "percentage", rate: "2.9", fixedFee: "0.3" },
    });
    expect(p.customers.c?.discounts).toEqual([{ entitlement: null, percent: "12.5" }]);
    expect(p.customers.c?.credits[0]?.amount).toBe("0.1");
  });

  it("a malformed money string is a schema error, not NaN", () => {
    const r = withBase({ "plans.yaml": "plans:\n  p: { price: '12,50' }\n" });
    expect(r.diagnostics).toMatchObject([
      {
        code: "schema/pattern",
        message: 'plans.p.price must be a non-negative decimal number (got "12,50")',
      },
    ]);
  });

  it(".inf and .nan are not money", () => {
    const r = withBase({ "plans.yaml": "plans:\n  p: { price: .inf }\n  q: { price: .nan }\n" });
    expect(r.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "schema/pattern plans.p.price",
      "schema/pattern plans.q.price",
    ]);
  });
});
