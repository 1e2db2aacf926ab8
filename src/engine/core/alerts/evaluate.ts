import type { Window } from "../periods.js";
import { type AlertVars, type CompiledRule, projectUsage, ruleApplies } from "./rules.js";

/**
 * Turning one customer's figures into rule evaluations. A rule scoped to an
 * entitlement, or one whose expression reads entitlement figures (usage,
 * limit, ...), is evaluated per metered entitlement, each with its own state
 * and period; any other rule once per customer for the billing period.
 */
export interface EntitlementFigures {
  entitlement: string;
  usage: number;
  /** null when unlimited. */
  limit: number | null;
  /** The entitlement's own period (a daily limit has daily windows). */
  window: Window;
  /** The fullest spend cap counting the entitlement (R18); null when none does (or in a batch run). */
  cap?: { spend: number; percent: number | null } | null;
}

export interface CustomerFigures {
  customer: string;
  plan: string;
  parent: string | null;
  metadata: Record<string, unknown>;
  spend: number;
  cost: number;
  marginPercent: number;
  /** Credit left (R12), or a wallet's balance in its unit (`wallet` set). */
  balance: number;
  /** The customer's wallet (SPEC §12), as the engine holds it live; null without one or in a batch run. */
  wallet?: { available: number } | null;
  /**
   * The customer has a wallet whose figures the engine evaluates live: a
   * batch run leaves rules reading `balance` or `available` to it.
   */
  walletLive?: boolean;
  /** The fullest of the customer's spend caps, for whole-customer rules; null when none (or in a batch run). */
  cap?: { spend: number; percent: number | null } | null;
  entitlements: EntitlementFigures[];
}

export interface Evaluation {
  rule: CompiledRule;
  customer: string;
  /** "" for a whole-customer rule. */
  entitlement: string;
  /** Start of the period the rule's state belongs to. */
  periodStart: number;
  period: Window;
  vars: AlertVars;
  holds: boolean;
}

const WALLET_VARIABLES = /\b(balance|available)\b/;
const CAP_VARIABLES = /\b(cap_spend|cap_percent)\b/;

const code = (expression: string) => expression.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');

/** Does the expression read the wallet figures (`balance`, `available`)? */
export function readsWalletFigures(expression: string): boolean {
  return WALLET_VARIABLES.test(code(expression));
}

/** Does the expression read spend cap figures (`cap_spend`, `cap_percent`)? */
export function readsCapFigures(expression: string): boolean {
  return CAP_VARIABLES.test(code(expression));
}

const ENTITLEMENT_VARIABLES =
  /\b(entitlement|usage|limit|remaining|usage_percent|projected_usage|projected_percent)\b/;

/** Does the expression read per-entitlement figures? String literals are ignored. */
export function readsEntitlementFigures(expression: string): boolean {
  return ENTITLEMENT_VARIABLES.test(code(expression));
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/**
 * The variables a rule sees. With `into`, the object is filled in place
 * (the live evaluator reuses one object for every evaluation).
 */
export function entitlementVars(
  base: CustomerFigures,
  e: EntitlementFigures | null,
  asOf: number,
  into?: AlertVars,
): AlertVars {
  const usage = e?.usage ?? 0;
  const limit = e?.limit ?? null;
  const projected = e ? projectUsage(usage, e.window.start, e.window.end, asOf) : 0;
  const v = into ?? ({} as AlertVars);
  v.customer = base.customer;
  v.plan = base.plan;
  v.parent = base.parent ?? "";
  v.metadata = base.metadata;
  v.entitlement = e?.entitlement ?? "";
  v.usage = usage;
  v.limit = limit;
  v.remaining = limit === null ? null : Math.max(0, limit - usage);
  v.usage_percent = limit ? round((usage / limit) * 100) : 0;
  v.projected_usage = round(projected);
  v.projected_percent = limit ? round((projected / limit) * 100) : 0;
  v.spend = base.spend;
  v.cost = base.cost;
  v.margin_percent = base.marginPercent;
  v.balance = base.balance;
  v.available = base.wallet == null ? null : base.wallet.available;
  const cap = e === null ? base.cap : e.cap;
  v.cap_spend = cap == null ? null : cap.spend;
  v.cap_percent = cap == null ? null : cap.percent;
  return v;
}

/** Every (rule, entitlement) evaluation for one customer as of `asOf`. */
export function evaluateCustomer(
  rules: readonly CompiledRule[],
  figures: CustomerFigures,
  billingPeriod: Window,
  asOf: number,
): Evaluation[] {
  const out: Evaluation[] = [];
  for (const rule of rules) {
    if (figures.walletLive === true && readsWalletFigures(rule.alert.when)) continue;
    const perEntitlement = rule.alert.entitlement !== null || readsEntitlementFigures(rule.alert.when);
    if (!perEntitlement) {
      if (!ruleApplies(rule.alert, figures.customer, figures.plan, null)) continue;
      const vars = entitlementVars(figures, null, asOf);
      out.push({
        rule,
        customer: figures.customer,
        entitlement: "",
        periodStart: billingPeriod.start,
        period: billingPeriod,
        vars,
        holds: rule.test(vars),
      });
      continue;
    }
    for (const e of figures.entitlements) {
      if (!ruleApplies(rule.alert, figures.customer, figures.plan, e.entitlement)) continue;
      const vars = entitlementVars(figures, e, asOf);
      out.push({
        rule,
        customer: figures.customer,
        entitlement: e.entitlement,
        periodStart: e.window.start,
        period: e.window,
        vars,
        holds: rule.test(vars),
      });
    }
  }
  return out;
}
