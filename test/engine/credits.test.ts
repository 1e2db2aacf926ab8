import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { compileCreditUnit } from "../../src/engine/core/credits/compile.js";
import {
  callEvent,
  creditsFor,
  eventCredits,
  UnratedQuantityError,
} from "../../src/engine/core/credits/convert.js";
import { fastCall } from "../../src/engine/core/credits/fast.js";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { dec } from "../../src/engine/core/money.js";

const unit = compileCreditUnit("credits", {
  value: 0.01,
  rates: {
    input_tokens: { by: "model", rates: { "gpt-4o": 0.25, "gpt-4o-mini": 0.015 }, per: 1000 },
    output_tokens: { by: "model", rates: { "gpt-4o": "1.0" }, per: 1000, default: 0.5 },
    images: 4,
  },
});

const models = fc.constantFrom("gpt-4o", "gpt-4o-mini");
/** Quantities as callers give them: whole units, or decimals with a few places. */
const quantity = fc.oneof(
  fc.integer({ min: 0, max: 10_000_000 }),
  fc.integer({ min: 0, max: 10_000_000 }).map((n) => (n / 1000).toFixed(3)),
);
const quantities = fc.record(
  { input_tokens: quantity, output_tokens: quantity, images: quantity },
  { requiredKeys: [] },
);

describe("credit conversion (SPEC §12, R9)", () => {
  it("is exact: the sum of each quantity times its rate over per, in decimal", () => {
    fc.assert(
      fc.property(quantities, models, (q, model) => {
        const expected = dec(q.input_tokens ?? 0)
          .times(model === "gpt-4o" ? "0.25" : "0.015")
          .div(1000)
          .plus(
            dec(q.output_tokens ?? 0)
              .times(model === "gpt-4o" ? "1" : "0.5")
              .div(1000),
          )
          .plus(dec(q.images ?? 0).times(4));
        expect(creditsFor(unit, q, { model }).equals(expected)).toBe(true);
      }),
    );
    expect(creditsFor(unit, { input_tokens: 1200, output_tokens: 300 }, { model: "gpt-4o" }).toFixed()).toBe(
      "0.6",
    );
    // 0.1 + 0.2 in binary is not 0.3; in credits it is
    expect(
      creditsFor(unit, { images: "0.075" })
        .plus(creditsFor(unit, { images: "0.05" }))
        .toFixed(),
    ).toBe("0.5");
  });

  it("is additive: converting two calls' quantities equals converting their sum", () => {
    fc.assert(
      fc.property(quantities, quantities, models, (a, b, model) => {
        const sum: Record<string, string> = {};
        for (const k of ["input_tokens", "output_tokens", "images"] as const)
          if (a[k] !== undefined || b[k] !== undefined)
            sum[k] = dec(a[k] ?? 0)
              .plus(dec(b[k] ?? 0))
              .toFixed();
        const apart = creditsFor(unit, a, { model }).plus(creditsFor(unit, b, { model }));
        expect(creditsFor(unit, sum, { model }).equals(apart)).toBe(true);
      }),
    );
  });

  it("a decided call and the same quantities recorded as an event convert alike", () => {
    const policy = loadValidPolicy("fixtures/credits/payg/policies");
    const credits = policy.creditUnits?.credits;
    if (!credits) throw new Error("no credit unit");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 1e6 }),
        models,
        (i, o, model) => {
          const properties = { model, input_tokens: i, output_tokens: o };
          const call = callEvent(credits, policy.meters, properties);
          if (call === null || typeof call === "string") throw new Error(String(call));
          const event = eventCredits(credits, policy.meters, {
            type: call.type,
            value: call.value,
            properties,
          });
          expect(call.credits.equals(event)).toBe(true);
        },
      ),
    );
  });

  it("the decision path's numeric conversion is the exact one, to 15 significant digits", () => {
    const policy = loadValidPolicy("fixtures/credits/payg/policies");
    const credits = policy.creditUnits?.credits;
    if (!credits) throw new Error("no credit unit");
    const props = fc.record(
      {
        model: fc.constantFrom("gpt-4o", "gpt-4o-mini", "other"),
        input_tokens: fc.integer({ min: 0, max: 1e7 }),
        output_tokens: fc.integer({ min: 0, max: 1e7 }),
        images: fc.integer({ min: 0, max: 1000 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(props, (p) => {
        const exact = callEvent(credits, policy.meters, p, policy.creditUnits);
        const fast = fastCall(credits, policy.meters, p, policy.creditUnits);
        if (exact === null || typeof exact === "string") expect(fast).toEqual(exact);
        else expect(fast).toEqual({ ...exact, credits: Number(exact.credits.toPrecision(15)) });
      }),
    );
  });

  it("a dimension value without a rate and no default cannot be priced", () => {
    expect(() => creditsFor(unit, { input_tokens: 5 }, { model: "claude" })).toThrow(UnratedQuantityError);
    expect(creditsFor(unit, { output_tokens: 1000 }, { model: "claude" }).toFixed()).toBe("0.5");
    // a zero quantity needs no rate
    expect(creditsFor(unit, { input_tokens: 0 }, { model: "claude" }).toFixed()).toBe("0");
  });

  it("a credit unit rating another converts through it", () => {
    const units = { credits: unit, pack: compileCreditUnit("pack", { rates: { credits: 2, images: 1 } }) };
    expect(creditsFor(units.pack, { images: 1 }, null, units).toFixed()).toBe("9");
  });
});

describe("diff of credit units and caps", () => {
  const yaml = (rate: string, cap: string | null) =>
    compilePolicy({
      limitr: 1,
      meters: { tokens: { event: "llm", property: "tokens" } },
      credit_units: { credits: { rates: { tokens: { by: "model", rates: { a: rate }, per: 1000 } } } },
      plans: {
        p: {
          ...(cap === null
            ? {}
            : { caps: { daily: { amount: cap, period: "day", entitlements: ["chat"] } } }),
          entitlements: { chat: { meter: "credits" } },
        },
      },
    }) as CompiledPolicy;

  it("a raised rate and a new or lowered cap are breaking; the reverse is not", () => {
    const raised = diffPolicies(yaml("0.25", null), yaml("0.3", null)).changes;
    expect(raised).toMatchObject([
      { path: "creditUnits.credits.rates.tokens.rates.a", resource: "creditUnits.credits", breaking: true },
    ]);
    expect(diffPolicies(yaml("0.3", null), yaml("0.25", null)).changes[0]?.breaking).toBe(false);
    const added = diffPolicies(yaml("0.25", null), yaml("0.25", "5")).changes;
    expect(added).toMatchObject([
      { kind: "add", path: "plans.p.caps.daily", resource: "plans.p.caps.daily", breaking: true },
    ]);
    expect(diffPolicies(yaml("0.25", "5"), yaml("0.25", "4")).changes).toMatchObject([
      { path: "plans.p.caps.daily.amount", breaking: true, reason: "spend cap lowered" },
    ]);
    expect(diffPolicies(yaml("0.25", "4"), yaml("0.25", "5")).changes[0]?.breaking).toBe(false);
    expect(diffPolicies(yaml("0.25", "5"), yaml("0.25", null)).changes).toMatchObject([
      { kind: "remove", breaking: false },
    ]);
    // A cap shared up the account tree (R7) pools more spend against its amount; back to each customer's own is not.
    const shared = yaml("0.25", "5");
    const daily = shared.plans.p?.caps?.daily;
    if (daily === undefined) throw new Error("the fixture has a daily cap");
    const scoped = {
      ...shared,
      plans: { p: { ...shared.plans.p, caps: { daily: { ...daily, scope: "root" } } } },
    };
    expect(diffPolicies(shared, scoped as CompiledPolicy).changes).toMatchObject([
      {
        path: "plans.p.caps.daily.scope",
        breaking: true,
        reason: "spend cap now shared by the account tree (scope)",
      },
    ]);
    expect(diffPolicies(scoped as CompiledPolicy, shared).changes[0]?.breaking).toBe(false);
  });
});
