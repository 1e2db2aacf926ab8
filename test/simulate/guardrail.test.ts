import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/engine/core/errors.js";
import { dec } from "../../src/engine/core/money.js";
import {
  compileGuardrail,
  type GuardrailVariables,
  guardrailVariables,
  topLevelOr,
} from "../../src/engine/core/simulate/guardrail.js";
import type { Figures, SimulationTotals } from "../../src/engine/core/simulate/types.js";

const vars = (over: Partial<GuardrailVariables>): GuardrailVariables => ({
  revenue_change_pct: 0,
  revenue_change: 0,
  base_revenue: 100,
  head_revenue: 100,
  base_denied: 0,
  head_denied: 0,
  denied_change: 0,
  customers_affected: 0,
  customers_newly_blocked: 0,
  base_customers_ran_dry: 0,
  head_customers_ran_dry: 0,
  base_customers_capped: 0,
  head_customers_capped: 0,
  ...over,
});

describe("guardrail expressions", () => {
  it("splits on top-level || only (not inside parentheses or strings)", () => {
    expect(topLevelOr("a < 1 || (b > 2 || c > 3) || 'x||y' == 'z'")).toEqual([
      "a < 1",
      "(b > 2 || c > 3)",
      "'x||y' == 'z'",
    ]);
    expect(topLevelOr("(a < 1 || b > 2)")).toEqual(["a < 1", "b > 2"]);
    expect(topLevelOr("(a < 1) && (b > 2)")).toEqual(["(a < 1) && (b > 2)"]);
  });

  it("names only the operands that are true", () => {
    const g = compileGuardrail(
      "revenue_change_pct < -5 || customers_affected > 10 || head_denied > base_denied",
    );
    expect(g.evaluate(vars({ revenue_change_pct: -6 }))).toEqual({
      tripped: true,
      conditions: ["revenue_change_pct < -5"],
    });
    expect(g.evaluate(vars({ customers_affected: 11, head_denied: 3 }))).toEqual({
      tripped: true,
      conditions: ["customers_affected > 10", "head_denied > base_denied"],
    });
    expect(g.evaluate(vars({ revenue_change_pct: -5 }))).toEqual({ tripped: false, conditions: [] });
  });

  it("treats a && expression as one condition", () => {
    const g = compileGuardrail("revenue_change < 0 && customers_newly_blocked >= 1");
    expect(g.evaluate(vars({ revenue_change: -1, customers_newly_blocked: 1 })).conditions).toEqual([
      "revenue_change < 0 && customers_newly_blocked >= 1",
    ]);
  });

  it("rejects syntax errors, unknown variables and non-boolean expressions as usage errors", () => {
    expect(() => compileGuardrail("revenue_change_pct <")).toThrow(UsageError);
    expect(() => compileGuardrail("revenue_change_pct <")).toThrow(/syntax error/);
    expect(() => compileGuardrail("churn > 1")).toThrow(/Unknown variable: churn/);
    expect(() => compileGuardrail("head_revenue - base_revenue")).toThrow(/not a condition/);
  });

  it("a change from zero revenue reads as an infinite percentage, no change as 0", () => {
    const zero: Figures = {
      revenue: dec(0),
      cost: dec(0),
      margin: dec(0),
      overage: dec(0),
      denied: 0,
      ranDry: 0,
      capped: 0,
    };
    const totals = (head: string): SimulationTotals => ({
      base: zero,
      head: { ...zero, revenue: dec(head) },
      change: dec(head),
      changePct: null,
      customersAffected: 0,
      customersNewlyBlocked: 0,
      customersRanDry: { base: 0, head: 0 },
      customersCapped: { base: 0, head: 0 },
      customers: 0,
    });
    expect(guardrailVariables(totals("10")).revenue_change_pct).toBe(Infinity);
    expect(guardrailVariables(totals("0")).revenue_change_pct).toBe(0);
    expect(
      compileGuardrail("revenue_change_pct > 50").evaluate(guardrailVariables(totals("10"))).tripped,
    ).toBe(true);
  });
});
