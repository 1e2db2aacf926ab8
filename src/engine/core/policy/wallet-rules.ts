import type { Diagnostic } from "./diagnostics.js";
import {
  entriesOf,
  has,
  isMap,
  mapOf,
  problem,
  type Rule,
  type RuleContext,
  sectionEntries,
  str,
} from "./rule-context.js";

/**
 * Wallet rules (SPEC §12): a `mode: prepaid` entitlement needs a wallet to
 * debit, and what it debits must make sense in the wallet's unit.
 */
const currencyOf = (raw: Record<string, unknown>): string => (str(raw.currency) ?? "USD").toUpperCase();

/** Whether credit unit `unit` rates `key`, directly or through the credit units it rates. */
function unitRates(units: Record<string, unknown>, unit: string, key: string, depth = 0): boolean {
  const rates = mapOf(mapOf(units[unit]).rates);
  if (Object.hasOwn(rates, key)) return true;
  if (depth > 32) return false;
  return Object.keys(rates).some((k) => Object.hasOwn(units, k) && unitRates(units, k, key, depth + 1));
}

/** Customers whose contract brings its own wallet, by plan. */
function contractWallets(ctx: RuleContext): Set<string> {
  const plans = new Set<string>();
  for (const [, c] of sectionEntries(ctx, "customers")) {
    const m = mapOf(c);
    const plan = str(m.plan);
    if (plan !== null && isMap(m.wallet)) plans.add(plan);
  }
  return plans;
}

export const prepaidNeedsWallet: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const withContractWallet = contractWallets(ctx);
  const currency = currencyOf(ctx.raw);
  const units = mapOf(ctx.raw.credit_units);
  for (const [planId, plan] of sectionEntries(ctx, "plans")) {
    const p = mapOf(plan);
    const wallet = isMap(p.wallet) ? p.wallet : null;
    const unitText = wallet === null ? null : (str(wallet.unit) ?? currency);
    const unit = unitText === null ? null : unitText.toUpperCase();
    for (const [id, ent] of entriesOf(p.entitlements)) {
      if (!isMap(ent) || ent.mode !== "prepaid") continue;
      const at = ["plans", planId, "entitlements", id, "mode"];
      if (wallet === null && !withContractWallet.has(planId)) {
        out.push(
          problem(ctx, at, {
            code: "wallet/prepaid-without-wallet",
            message: `plans.${planId}.entitlements.${id} is prepaid, but plans.${planId} has no wallet`,
            hint: `add a wallet to plans.${planId}, e.g. wallet: { unit: ${currency}, minimum: 0 }`,
          }),
        );
      } else if (
        unitText !== null &&
        Object.hasOwn(units, unitText) &&
        str(ent.meter) !== null &&
        str(ent.meter) !== unitText &&
        !unitRates(units, unitText, str(ent.meter) as string)
      ) {
        out.push(
          problem(ctx, ["plans", planId, "entitlements", id, "meter"], {
            code: "wallet/prepaid-unrated",
            message: `plans.${planId}.entitlements.${id} is prepaid from a ${unitText} wallet, but credit unit ${unitText} has no rate for meter ${str(ent.meter)}`,
            hint: `add ${str(ent.meter)} to credit_units.${unitText}.rates (e.g. ${str(ent.meter)}: 1), or meter the entitlement in ${unitText}`,
          }),
        );
      } else if (unit === currency && !has(ent, "price") && !has(ent, "overage")) {
        out.push(
          problem(ctx, at, {
            code: "wallet/prepaid-without-price",
            severity: "warning",
            message: `plans.${planId}.entitlements.${id} is prepaid from a ${currency} wallet but has no price: its calls debit nothing`,
            hint: "give it a price (e.g. price: { model: per_unit, unit_price: 0.002 })",
          }),
        );
      }
    }
  }
  return out;
};

/** An ISO duration of zero length (P0D) would grant or expire in a loop. */
export const walletDurationsPositive: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const check = (grant: unknown, path: (string | number)[]) => {
    const g = mapOf(grant);
    for (const field of ["every", "expires_after"]) {
      const v = str(g[field]);
      if (v === null || !v.startsWith("P") || /[1-9]/.test(v)) continue;
      out.push(
        problem(ctx, [...path, field], {
          code: "wallet/zero-duration",
          message: `${field} ${v} is a duration of zero`,
          hint: "use a positive duration such as P30D, or a calendar period (month)",
        }),
      );
    }
  };
  for (const [planId, plan] of sectionEntries(ctx, "plans"))
    check(mapOf(mapOf(plan).wallet).grant, ["plans", planId, "wallet", "grant"]);
  for (const [id, c] of sectionEntries(ctx, "customers"))
    check(mapOf(mapOf(c).wallet).grant, ["customers", id, "wallet", "grant"]);
  return out;
};

export const walletRules: Rule[] = [prepaidNeedsWallet, walletDurationsPositive];
