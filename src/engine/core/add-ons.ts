import { overageModel } from "./compile.js";
import type { ChargeModel, CompiledEntitlement, CompiledPlan, MeteredEntitlement } from "./model.js";

/**
 * Add-ons (SPEC §15): a customer holds one base plan and any number of
 * add-on plans (`add_on: true`). What the customer is entitled to is the
 * base plan with every held add-on stacked on it:
 *
 * - Limits add: the stacked limit of an entitlement is the sum of the base
 *   plan's and each add-on's limit; unlimited when any of them is unlimited.
 * - The base plan's terms govern the entitlement (meter, period, mode, scope,
 *   rate governor); an add-on's only when the base plan lacks the entitlement
 *   (the first add-on by id that defines it).
 * - Usage is rated once, under one charge model: the price of the held
 *   add-on that prices the entitlement (the last by id when several do),
 *   else the base plan's. A free allowance written as `overage:` (free up to
 *   the plan's own limit, then a unit price) moves to the stacked limit, so
 *   an add-on's extra units are never charged as overage.
 * - A feature flag is enabled when the base plan or any held add-on enables it.
 *
 * The stacked plan keeps the base plan's id, name, fee, wallet and caps: add-on
 * fees are invoiced as lines of their own (see rating/timeline.ts).
 */
export function stackPlan(base: CompiledPlan, addOns: readonly CompiledPlan[]): CompiledPlan {
  if (addOns.length === 0) return base;
  const ids = new Set(Object.keys(base.entitlements));
  for (const a of addOns) for (const id of Object.keys(a.entitlements)) ids.add(id);
  const entitlements: Record<string, CompiledEntitlement> = {};
  for (const id of [...ids].sort()) {
    const parts: CompiledEntitlement[] = [];
    const own = base.entitlements[id];
    if (own) parts.push(own);
    for (const a of addOns) {
      const e = a.entitlements[id];
      if (e) parts.push(e);
    }
    entitlements[id] = stackEntitlement(parts, own !== undefined);
  }
  return { ...base, entitlements };
}

function stackEntitlement(parts: CompiledEntitlement[], baseHasIt: boolean): CompiledEntitlement {
  const lead = parts[0] as CompiledEntitlement;
  if (lead.kind === "flag") {
    // A flag stacks with flags only (validation rejects a flag stacked on a metered entitlement).
    return { ...lead, enabled: parts.some((p) => p.kind === "flag" && p.enabled) };
  }
  const metered = parts.filter(
    (p): p is MeteredEntitlement => p.kind === "metered" && p.meter === lead.meter,
  );
  const limit = metered.some((p) => p.limit === null)
    ? null
    : metered.reduce((n, p) => n + (p.limit as number), 0);
  // The pricer: the last add-on that prices it, else the base plan (the lead when the base has it).
  const addOnParts = baseHasIt ? metered.slice(1) : metered;
  const pricer = [...addOnParts].reverse().find((p) => p.price !== null) ?? lead;
  return { ...lead, limit, price: rebaseOverage(pricer.price, pricer.limit, limit) };
}

/**
 * `overage: X` compiles to graduated [{up_to: L, unit_price: 0}, {unit_price: X}]
 * with L the plan's own limit; on a stacked entitlement the free tier ends at
 * the stacked limit instead (SPEC §2.3, the same move an override's `limit` makes).
 */
export function rebaseOverage(
  price: ChargeModel | null,
  ownLimit: number | null,
  limit: number | null,
): ChargeModel | null {
  if (price === null || ownLimit === null || limit === ownLimit || !isOverage(price, ownLimit)) return price;
  // An unlimited stacked entitlement has no overage: every unit is inside the allowance.
  if (limit === null) return { ...price, tiers: [{ upTo: null, unitPrice: "0", flatFee: "0" }] };
  return overageModel(limit, price.tiers[1]?.unitPrice ?? "0");
}

function isOverage(price: ChargeModel, limit: number): price is ChargeModel & { model: "graduated" } {
  return (
    price.model === "graduated" &&
    price.tiers.length === 2 &&
    price.tiers[0]?.upTo === limit &&
    price.tiers[0].unitPrice === "0" &&
    price.tiers[0].flatFee === "0" &&
    price.tiers[1]?.flatFee === "0"
  );
}

/** A key naming one stack (base plus add-ons, sorted): "pro" or "pro+gpu+tokens". */
export function stackKey(plan: string, addOns: readonly string[] | undefined): string {
  return addOns && addOns.length > 0 ? `${plan}+${addOns.join("+")}` : plan;
}

/** Sorted, without duplicates: the canonical form of a held add-on set. */
export function addOnSet(addOns: Iterable<string> | undefined): string[] {
  return addOns === undefined ? [] : [...new Set(addOns)].sort();
}

/** The stacked plan of `plan` with `addOns` from `plans`; add-ons the policy does not define are ignored. */
export function stackedPlan(
  plans: Readonly<Record<string, CompiledPlan>>,
  plan: string,
  addOns: readonly string[] | undefined,
): CompiledPlan | undefined {
  const base = Object.hasOwn(plans, plan) ? plans[plan] : undefined;
  if (!base || !addOns || addOns.length === 0) return base;
  const held: CompiledPlan[] = [];
  for (const id of addOns) {
    const a = Object.hasOwn(plans, id) ? plans[id] : undefined;
    if (a?.addOn && id !== plan) held.push(a);
  }
  return stackPlan(base, held);
}

/** How stores keep a held add-on set: comma-separated ids ("" = none); ids never hold a comma. */
export function encodeAddOns(addOns: readonly string[]): string {
  return addOnSet(addOns).join(",");
}

export function decodeAddOns(text: string | null | undefined): string[] {
  return text ? addOnSet(text.split(",").filter((s) => s !== "")) : [];
}

/** A stored plan-history row with its `add_ons` column decoded; rows without add-ons carry no field. */
export function withAddOns<T extends { addOns?: unknown }>(
  row: T,
): Omit<T, "addOns"> & { addOns?: string[] } {
  const { addOns, ...rest } = row;
  const list = decodeAddOns(typeof addOns === "string" ? addOns : null);
  return list.length > 0 ? { ...rest, addOns: list } : rest;
}
