import { createRequire } from "node:module";
import type { Environment } from "@marcbachmann/cel-js";
import type { CompiledAlert, CompiledPolicy } from "../model.js";
import { type ConditionVariables, isSimpleCondition } from "./simple-condition.js";

/**
 * Alert rules: CEL expressions over the variables of SPEC §2.5, compiled once
 * per policy. Figures are doubles here: alerts compare, they never bill.
 */
export const ALERT_VARIABLES = {
  customer: "string",
  plan: "string",
  /** Parent account id, "" at the root of the tree. */
  parent: "string",
  metadata: "map<string, dyn>",
  /** Entitlement the figures are about ("" for whole-customer rules). */
  entitlement: "string",
  usage: "double",
  /** null when the entitlement is unlimited. */
  limit: "dyn",
  /** null when the entitlement is unlimited. */
  remaining: "dyn",
  /** 0 when the entitlement is unlimited. */
  usage_percent: "double",
  projected_usage: "double",
  projected_percent: "double",
  spend: "double",
  cost: "double",
  margin_percent: "double",
  balance: "double",
  /** The wallet's spendable funds (balance - minimum - reserved); null without a wallet. */
  available: "dyn",
  /** The spend of the fullest cap counting the figures (money); null when no cap does. */
  cap_spend: "dyn",
  /** That cap's spend / amount * 100; null when no cap counts the figures. */
  cap_percent: "dyn",
} as const;

export type AlertVariable = keyof typeof ALERT_VARIABLES;

export interface AlertVars {
  customer: string;
  plan: string;
  parent: string;
  metadata: Record<string, unknown>;
  entitlement: string;
  usage: number;
  limit: number | null;
  remaining: number | null;
  usage_percent: number;
  projected_usage: number;
  projected_percent: number;
  spend: number;
  cost: number;
  margin_percent: number;
  balance: number;
  available: number | null;
  cap_spend: number | null;
  cap_percent: number | null;
}

const variablesOf = (type: string) =>
  new Set(
    Object.entries(ALERT_VARIABLES)
      .filter(([, t]) => t === type)
      .map(([name]) => name),
  );
const CONDITION_VARIABLES: ConditionVariables = {
  numbers: variablesOf("double"),
  strings: variablesOf("string"),
};

/**
 * Does `expression` parse, type-check and yield a bool, by its shape alone
 * (see ./simple-condition.ts)? True is CEL's answer without loading CEL;
 * false means only CEL can tell.
 */
export function isSimpleRule(expression: string): boolean {
  return isSimpleCondition(expression, CONDITION_VARIABLES);
}

let env: Environment | null = null;

/**
 * The CEL environment every rule is checked and evaluated in. The interpreter
 * is loaded on first use (synchronously: it is an ES module without top-level
 * await), so that validating and opening a policy whose rules are all simple
 * never loads it.
 */
export function alertEnvironment(): Environment {
  if (!env) {
    const { Environment } = createRequire(import.meta.url)(
      "@marcbachmann/cel-js",
    ) as typeof import("@marcbachmann/cel-js");
    env = new Environment({ homogeneousAggregateLiterals: false });
    for (const [name, type] of Object.entries(ALERT_VARIABLES)) env.registerVariable(name, type);
  }
  return env;
}

export type RuleProblem = { kind: "syntax" | "type"; message: string };

/** Check a `when` expression: null when it parses, type-checks and yields a bool. */
export function checkRule(expression: string): RuleProblem | null {
  if (isSimpleRule(expression)) return null;
  const result = alertEnvironment().check(expression) as {
    valid: boolean;
    type?: string;
    error?: { name?: string; message?: string };
  };
  if (!result.valid) {
    const kind = result.error?.name === "ParseError" ? "syntax" : "type";
    return { kind, message: firstLine(result.error?.message ?? "invalid expression") };
  }
  if (result.type !== "bool" && result.type !== "dyn") {
    return { kind: "type", message: `the expression yields ${result.type}, not bool` };
  }
  return null;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

export interface CompiledRule {
  alert: CompiledAlert;
  /** Evaluate; an evaluation error (e.g. comparing a null limit) counts as "does not fire". */
  test(vars: AlertVars): boolean;
}

/**
 * Compile every alert of a policy once, on its first evaluation (an engine
 * that never evaluates a rule never loads CEL). Rules that do not check are
 * left out (validation reports them).
 */
export function compileRules(policy: CompiledPolicy): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const alert of Object.values(policy.alerts)) {
    if (checkRule(alert.when)) continue;
    let program: ReturnType<Environment["parse"]> | null = null;
    out.push({
      alert,
      test(vars) {
        // A rule that checks parses: only its evaluation may fail.
        program ??= alertEnvironment().parse(alert.when);
        try {
          return program(vars as unknown as Record<string, unknown>) === true;
        } catch {
          return false;
        }
      },
    });
  }
  return out;
}

/** Does the rule concern this customer, plan and entitlement at all? */
export function ruleApplies(
  rule: CompiledAlert,
  customer: string,
  plan: string,
  entitlement: string | null,
): boolean {
  if (rule.entitlement !== null && rule.entitlement !== entitlement) return false;
  if (rule.plans.length > 0 && !rule.plans.includes(plan)) return false;
  if (rule.customers.length > 0 && !rule.customers.includes(customer)) return false;
  return true;
}

/**
 * Linear trajectory of this period's usage to the period's end: the rate so
 * far, extended over the whole period. Before any time has passed it is the usage.
 */
export function projectUsage(usage: number, periodStart: number, periodEnd: number, now: number): number {
  const elapsed = now - periodStart;
  const length = periodEnd - periodStart;
  if (elapsed <= 0 || !Number.isFinite(length) || length <= 0) return usage;
  return usage * (length / Math.min(elapsed, length));
}

export type AlertState = "armed" | "triggered";

export interface Transition {
  state: AlertState;
  /** Send a notification: "triggered" when it fires, "resolved" when a crossing rule re-arms. */
  notify: "triggered" | "resolved" | null;
}

/**
 * Firing discipline. `once: period` fires at most once per customer per period
 * (a new period starts armed); `once: crossing` fires each time the condition
 * turns true and re-arms (with a resolved notice) when it turns false.
 */
export function transition(once: CompiledAlert["once"], state: AlertState, holds: boolean): Transition {
  if (state === "armed") return holds ? { state: "triggered", notify: "triggered" } : { state, notify: null };
  if (once === "crossing" && !holds) return { state: "armed", notify: "resolved" };
  return { state, notify: null };
}
