import { Environment } from "@marcbachmann/cel-js";
import { UsageError } from "../errors.js";
import type { SimulationTotals } from "./types.js";

/**
 * `simulate --fail-on EXPR`: a CEL expression over the simulation's totals.
 * Figures are doubles: a guardrail compares, it never bills.
 *
 * @example
 * const rail = compileGuardrail("revenue_change_pct < -5 || customers_affected > 10");
 * rail.evaluate(guardrailVariables(report.totals)).tripped
 */
export const GUARDRAIL_VARIABLES = [
  "revenue_change_pct",
  "revenue_change",
  "base_revenue",
  "head_revenue",
  "base_denied",
  "head_denied",
  "denied_change",
  "customers_affected",
  "customers_newly_blocked",
  "base_customers_ran_dry",
  "head_customers_ran_dry",
  "base_customers_capped",
  "head_customers_capped",
] as const;

export type GuardrailVariables = Record<(typeof GUARDRAIL_VARIABLES)[number], number>;

export interface GuardrailResult {
  tripped: boolean;
  /** The top-level `||` operands that evaluated true (the whole expression when it has none). */
  conditions: string[];
}

export interface Guardrail {
  expression: string;
  evaluate(vars: GuardrailVariables): GuardrailResult;
}

let env: Environment | null = null;

function environment(): Environment {
  if (!env) {
    env = new Environment();
    for (const name of GUARDRAIL_VARIABLES) env.registerVariable(name, "double");
  }
  return env;
}

/**
 * The totals as guardrail variables. A change from a zero base has no
 * percentage: it reads as +Infinity (or -Infinity), so a percentage bound
 * still trips on it; no change reads as 0.
 */
export function guardrailVariables(t: SimulationTotals): GuardrailVariables {
  const change = t.change.toNumber();
  const pct =
    t.changePct !== null ? t.changePct.toNumber() : change === 0 ? 0 : change > 0 ? Infinity : -Infinity;
  return {
    revenue_change_pct: pct,
    revenue_change: change,
    base_revenue: t.base.revenue.toNumber(),
    head_revenue: t.head.revenue.toNumber(),
    base_denied: t.base.denied,
    head_denied: t.head.denied,
    denied_change: t.head.denied - t.base.denied,
    customers_affected: t.customersAffected,
    customers_newly_blocked: t.customersNewlyBlocked,
    base_customers_ran_dry: t.customersRanDry.base,
    head_customers_ran_dry: t.customersRanDry.head,
    base_customers_capped: t.customersCapped.base,
    head_customers_capped: t.customersCapped.head,
  };
}

/** Split on `||` outside parentheses, brackets and string literals; outer parentheses around the whole are dropped. */
export function topLevelOr(expression: string): string[] {
  let text = expression.trim();
  while (text.startsWith("(") && closingParen(text, 0) === text.length - 1) text = text.slice(1, -1).trim();
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote !== null) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth--;
    else if (depth === 0 && ch === "|" && text[i + 1] === "|") {
      parts.push(text.slice(from, i).trim());
      from = i + 2;
      i++;
    }
  }
  parts.push(text.slice(from).trim());
  return parts;
}

function closingParen(text: string, open: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = open; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote !== null) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "(") depth++;
    else if (ch === ")" && --depth === 0) return i;
  }
  return -1;
}

function check(expression: string): void {
  const result = environment().check(expression) as {
    valid: boolean;
    type?: string;
    error?: { name?: string; message?: string };
  };
  const known = `variables: ${GUARDRAIL_VARIABLES.join(", ")}`;
  if (!result.valid) {
    const what = result.error?.name === "ParseError" ? "syntax error" : "type error";
    const message = (result.error?.message ?? "invalid expression").split("\n")[0];
    throw new UsageError(`--fail-on "${expression}": ${what}: ${message} (${known})`);
  }
  if (result.type !== "bool") {
    throw new UsageError(
      `--fail-on "${expression}" yields ${result.type}, not a condition (true/false) (${known})`,
    );
  }
}

/** Check and compile a guardrail; a bad expression is a usage error (exit 64) naming the variables. */
export function compileGuardrail(expression: string): Guardrail {
  check(expression);
  const parts = topLevelOr(expression);
  // Each operand is a condition of its own only when it checks alone; else the whole expression is the one condition.
  let conditions = [expression];
  if (parts.length > 1) {
    try {
      for (const p of parts) check(p);
      conditions = parts;
    } catch {
      conditions = [expression];
    }
  }
  const programs = conditions.map((c) => ({ text: c, run: environment().parse(c) }));
  return {
    expression,
    evaluate(vars) {
      const tripped: string[] = [];
      for (const p of programs) {
        let value: unknown;
        try {
          value = p.run(vars as unknown as Record<string, unknown>);
        } catch (err) {
          throw new UsageError(`--fail-on "${p.text}" could not be evaluated: ${(err as Error).message}`);
        }
        if (value === true) tripped.push(p.text);
      }
      return { tripped: tripped.length > 0, conditions: tripped };
    },
  };
}
