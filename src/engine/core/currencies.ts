import { PolicyError } from "./errors.js";
import type { CompiledCap, CompiledPlan, CompiledPolicy, MeteredEntitlement } from "./model.js";

/**
 * Multi-currency pricing. A plan's own money (`price`, `minimum`, each
 * entitlement's charge model, each cap) is in the policy currency; its
 * `currencies:` give explicit price lists in other currencies (there are no
 * exchange rates). A customer is invoiced and priced in one currency: the
 * contract's `currency`, else the one recorded in the store (`limitr
 * customers set --currency`), else the policy's. Pure.
 */

/** The currency `customer` is invoiced in (upper case). */
export function customerCurrency(policy: CompiledPolicy, customer: string, stored?: string | null): string {
  const contract = Object.hasOwn(policy.customers, customer) ? policy.customers[customer] : undefined;
  return contract?.currency ?? stored?.toUpperCase() ?? policy.currency;
}

const resolved = new WeakMap<CompiledPlan, Map<string, CompiledPlan | null>>();

/**
 * `plan` with every amount in `currency`: the plan itself in the policy
 * currency, else the plan with its price list for `currency` laid over its
 * money fields (limits, periods and modes stay the plan's); null when the
 * plan has no price list in that currency. Memoized per compiled plan.
 *
 * @example
 *   planInCurrency(policy, policy.plans.pro, "JPY")?.price // "7400"
 */
export function planInCurrency(
  policy: CompiledPolicy,
  plan: CompiledPlan,
  currency: string,
): CompiledPlan | null {
  if (currency === policy.currency) return plan;
  let byCurrency = resolved.get(plan);
  if (byCurrency === undefined) resolved.set(plan, (byCurrency = new Map()));
  let out = byCurrency.get(currency);
  if (out !== undefined) return out;
  const list = plan.currencies?.[currency];
  if (list === undefined) out = null;
  else {
    const entitlements: CompiledPlan["entitlements"] = {};
    for (const [id, ent] of Object.entries(plan.entitlements)) {
      entitlements[id] =
        ent.kind === "metered" && ent.price !== null
          ? ({ ...ent, price: list.entitlements[id] ?? null } satisfies MeteredEntitlement)
          : ent;
    }
    let caps: Record<string, CompiledCap> | undefined;
    if (plan.caps !== undefined) {
      caps = {};
      for (const [id, cap] of Object.entries(plan.caps))
        caps[id] = { ...cap, amount: list.caps[id] ?? cap.amount };
    }
    const { currencies: _lists, ...rest } = plan;
    out = {
      ...rest,
      price: list.price,
      minimum: list.minimum,
      entitlements,
      ...(caps === undefined ? {} : { caps }),
    };
  }
  byCurrency.set(currency, out);
  return out;
}

/** Like `planInCurrency`, for billing: a plan without a price list in the currency is a policy error naming both. */
export function planPricedIn(
  policy: CompiledPolicy,
  plan: CompiledPlan,
  currency: string,
  customer: string,
): CompiledPlan {
  const out = planInCurrency(policy, plan, currency);
  if (out === null)
    throw new PolicyError(
      `customer ${customer} is invoiced in ${currency} but plan ${plan.id} has no ${currency} prices: ` +
        `add plans.${plan.id}.currencies.${currency} (prices are never converted)`,
    );
  return out;
}

/** The plans `ids` priced in `currency` for `customer` (see `planPricedIn`); unknown ids are left out. */
export function plansPricedIn(
  policy: CompiledPolicy,
  ids: Iterable<string>,
  currency: string,
  customer: string,
): Record<string, CompiledPlan> {
  if (currency === policy.currency) return policy.plans;
  const out: Record<string, CompiledPlan> = {};
  for (const id of ids) {
    const plan = Object.hasOwn(policy.plans, id) ? policy.plans[id] : undefined;
    if (plan !== undefined) out[id] = planPricedIn(policy, plan, currency, customer);
  }
  return out;
}
