import type {
  ChargeModel,
  CompiledEntitlement,
  CompiledPolicy,
  EnforcementMode,
  EntitlementOverride,
} from "../model.js";
import { dec } from "../money.js";
import { capChange, creditUnitChange } from "./credit-breaking.js";
import type { RawChange } from "./walk.js";
import { walletChange } from "./wallet-rules.js";

/**
 * Rules that flag a change as BREAKING: it can make an existing customer pay
 * more or get less than before. Each rule looks at one change with both
 * policies at hand and returns a reason, or null when it does not apply.
 * Unknown shapes err on the side of "breaking" only where money is involved.
 */
export interface Verdict {
  breaking: boolean;
  reason: string | null;
}

const BREAKING = (reason: string): Verdict => ({ breaking: true, reason });
const NOTE = (reason: string): Verdict => ({ breaking: false, reason });
const NONE: Verdict = { breaking: false, reason: null };

const STRICTNESS: Record<EnforcementMode, number> = { observe: 0, soft: 1, hard: 2, prepaid: 3 };

/** Fields of a charge model where a higher value costs the customer more. */
const COST_UP = new Set(["unitPrice", "flatFee", "packagePrice", "rate", "fixedFee"]);
/** Fields where a lower value costs the customer more. */
const COST_DOWN = new Set(["freeUnits", "freeEvents", "packageSize"]);

const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

function moneyUp(before: unknown, after: unknown): boolean {
  if (typeof before !== "string" || typeof after !== "string") return false;
  return dec(after).greaterThan(dec(before));
}

/** A limit moved down; `null` is unlimited. */
function limitLowered(before: unknown, after: unknown): boolean {
  const a = num(before);
  const b = num(after);
  if (b === null) return false;
  return a === null || b < a;
}

/** The free tier of the `overage` sugar: graduated, two tiers, the first at price 0. */
function isOverage(model: ChargeModel | null | undefined): boolean {
  return model?.model === "graduated" && model.tiers.length === 2 && model.tiers[0]?.unitPrice === "0";
}

/** Compare two whole charge models (one may be absent): a reason when the customer may pay more. */
export function priceRaised(before: ChargeModel | null, after: ChargeModel | null): string | null {
  if (!after) return null;
  if (!before) return "usage that was free is now charged";
  if (before.model !== after.model)
    return `charge model changed (${before.model} -> ${after.model}): review prices`;
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (COST_UP.has(k) && moneyUp(a[k], b[k])) return `${k} raised`;
    if (COST_DOWN.has(k) && (num(b[k]) ?? 0) < (num(a[k]) ?? 0)) return `${k} lowered`;
  }
  if ("tiers" in before && "tiers" in after) {
    if (before.tiers.length !== after.tiers.length) return "tier structure changed: review prices";
    for (let i = 0; i < after.tiers.length; i++) {
      const ta = before.tiers[i];
      const tb = after.tiers[i];
      if (!ta || !tb) continue;
      if (moneyUp(ta.unitPrice, tb.unitPrice) || moneyUp(ta.flatFee, tb.flatFee))
        return `tier ${i + 1} price raised`;
    }
  }
  return null;
}

function entitlementAt(policy: CompiledPolicy, plan: string | undefined, id: string | undefined) {
  if (!plan || !id) return undefined;
  return policy.plans[plan]?.entitlements[id];
}

function customerPlanEntitlement(
  policy: CompiledPolicy,
  customer: string | undefined,
  id: string | undefined,
) {
  const plan = customer ? policy.customers[customer]?.plan : undefined;
  return entitlementAt(policy, plan ?? undefined, id);
}

/** A removed entitlement or a flag turned off: customers lose access. */
function entitlementLoss(
  before: CompiledEntitlement | undefined,
  after: CompiledEntitlement | null,
): string | null {
  if (!before) return null;
  if (!after)
    return before.kind === "flag" ? (before.enabled ? "feature flag removed" : null) : "entitlement removed";
  if (before.kind === "flag" && before.enabled && after.kind === "flag" && !after.enabled)
    return "feature flag turned off";
  if (before.kind === "flag" && before.enabled && after.kind === "metered" && after.limit !== null)
    return "feature now metered with a limit";
  if (before.kind === "metered" && after.kind === "flag" && !after.enabled) return "entitlement turned off";
  if (before.kind === "metered" && after.kind === "metered") {
    const raised = priceRaised(before.price, after.price);
    if (raised) return raised;
  }
  return null;
}

/** What a customer loses when a per-customer override disappears and the plan's value applies again. */
function overrideRemoved(ov: EntitlementOverride, plan: CompiledEntitlement | undefined): string | null {
  if (plan?.kind !== "metered") return null;
  if ("limit" in ov && ov.limit !== undefined && limitLowered(ov.limit, plan.limit))
    return `override removed: limit falls back to the plan's ${plan.limit}`;
  if (ov.mode && STRICTNESS[plan.mode] > STRICTNESS[ov.mode])
    return `override removed: mode falls back to ${plan.mode}`;
  if (ov.price !== undefined) {
    const r = priceRaised(ov.price, plan.price);
    if (r) return `override removed: ${r}`;
  }
  return null;
}

/** A new per-customer override that gives less than the plan did. */
function overrideAdded(ov: EntitlementOverride, plan: CompiledEntitlement | undefined): string | null {
  if (plan?.kind !== "metered") return null;
  if (ov.limit !== undefined && limitLowered(plan.limit, ov.limit)) return "override lowers the plan's limit";
  if (ov.mode && STRICTNESS[ov.mode] > STRICTNESS[plan.mode])
    return `override makes mode stricter (${ov.mode})`;
  if (ov.price !== undefined) {
    const r = priceRaised(plan.price, ov.price);
    if (r) return `override: ${r}`;
  }
  return null;
}

/** Rules on a field of an entitlement or an override (`rest` is the path below it). */
function entitlementField(ch: RawChange, rest: string[], baseEnt: ChargeModel | null | undefined): Verdict {
  const [field, ...below] = rest;
  if (field === "limit" && limitLowered(ch.before, ch.after)) return BREAKING("limit lowered");
  if (field === "mode") {
    const a = STRICTNESS[ch.before as EnforcementMode];
    const b = STRICTNESS[ch.after as EnforcementMode];
    if (b !== undefined && (a === undefined || b > a))
      return BREAKING(`mode made stricter (${ch.before ?? "plan"} -> ${ch.after})`);
    return NONE;
  }
  if (field === "meter") return BREAKING("entitlement now counts a different meter");
  if (field === "enabled" && ch.before === true && ch.after === false)
    return BREAKING("feature flag turned off");
  if (field === "rate") {
    if (below.length === 0) return ch.after && !ch.before ? BREAKING("rate limit added") : NONE;
    return (num(ch.after) ?? Number.POSITIVE_INFINITY) < (num(ch.before) ?? 0)
      ? BREAKING("rate limit lowered")
      : NONE;
  }
  if (field === "expires") return NOTE("override expiry changed");
  if (field === "price") return priceField(ch, below, baseEnt);
  return NONE;
}

function priceField(ch: RawChange, below: string[], baseModel: ChargeModel | null | undefined): Verdict {
  const leaf = below[below.length - 1] ?? "";
  if (below.length === 0) {
    const r = priceRaised(
      (ch.before as ChargeModel | null) ?? baseModel ?? null,
      ch.after as ChargeModel | null,
    );
    return r ? BREAKING(r) : NONE;
  }
  const overage = isOverage(baseModel) && below[0] === "tiers" && below[1] === "[1]";
  if (ch.kind !== "change") {
    return below[0] === "tiers" ? BREAKING("tier structure changed: review prices") : NONE;
  }
  if (COST_UP.has(leaf) && moneyUp(ch.before, ch.after)) {
    if (overage) return BREAKING("overage price raised");
    const tier = below[0] === "tiers" ? `tier ${Number(below[1]?.slice(1, -1)) + 1} ` : "";
    return BREAKING(`${tier}${leaf === "unitPrice" ? "unit price" : leaf} raised`);
  }
  if (COST_DOWN.has(leaf) && (num(ch.after) ?? 0) < (num(ch.before) ?? 0)) return BREAKING(`${leaf} lowered`);
  return NONE;
}

/** Classify one structural change. */
export function classify(ch: RawChange, base: CompiledPolicy, head: CompiledPolicy): Verdict {
  const s = ch.segments;
  const [section, , field] = s;
  switch (section) {
    case "currency":
      return BREAKING("currency changed: every price is read in a different currency");
    case "timezone":
      return NOTE("calendar period boundaries move");
    case "meters":
      if (s.length === 2) return ch.kind === "remove" ? NOTE("meter removed") : NONE;
      if (["events", "aggregation", "property", "where", "unitTime"].includes(field ?? ""))
        return BREAKING("meter definition changed: usage is counted differently");
      return NONE;
    case "creditUnits": {
      if (s.length === 2) return ch.kind === "remove" ? NOTE("credit unit removed") : NONE;
      const r = creditUnitChange(ch, s.slice(2));
      return r ? BREAKING(r) : NONE;
    }
    case "plans":
      if (field === "caps") return capVerdict(ch, s.slice(3));
      return planRule(ch, base, head);
    case "customers":
      if (field === "caps") return capVerdict(ch, s.slice(3));
      return customerRule(ch, base, head);
    default:
      return NONE;
  }
}

/** A contract adds an add-on (its fee is invoiced) or drops one (its entitlements no longer stack). */
function addOnVerdict(ch: RawChange, addOn: string | undefined, head: CompiledPolicy): Verdict {
  if (!addOn) return NONE;
  if (ch.kind === "remove")
    return BREAKING(`add-on ${addOn} removed: its entitlements no longer stack on the plan`);
  if (ch.kind !== "add") return NONE;
  const fee = head.plans[addOn]?.price;
  return fee !== undefined && dec(fee).greaterThan(0)
    ? BREAKING(`add-on ${addOn} added: its fee of ${fee} is invoiced`)
    : NOTE(`add-on ${addOn} added`);
}

function capVerdict(ch: RawChange, rest: string[]): Verdict {
  if (rest.length === 0) return NONE;
  const r = capChange(ch, rest.slice(1));
  return r ? BREAKING(r) : NONE;
}

function planRule(ch: RawChange, base: CompiledPolicy, head: CompiledPolicy): Verdict {
  const [, plan, field, ent, ...rest] = ch.segments;
  if (!field) {
    if (ch.kind !== "remove") return NONE;
    const on = Object.values(base.customers).filter(
      (c) => c.plan === plan || (plan !== undefined && c.addOns?.includes(plan)),
    );
    return on.length > 0
      ? BREAKING(`plan removed while customers are on it: ${on.map((c) => c.id).join(", ")}`)
      : NOTE("plan removed (no customer in the policy is on it)");
  }
  const addOn = head.plans[plan ?? ""]?.addOn === true;
  if (field === "addOn")
    return NOTE(
      ch.after === true
        ? "plan is now an add-on: held beside a base plan, never as one"
        : "plan is no longer an add-on: customers can hold it as their plan",
    );
  if (field === "price" && moneyUp(ch.before, ch.after))
    return BREAKING(addOn ? "add-on fee raised" : "recurring price raised");
  if (field === "minimum" && moneyUp(ch.before, ch.after)) return BREAKING("minimum spend raised");
  if (field === "trialDays" && (num(ch.after) ?? 0) < (num(ch.before) ?? 0))
    return BREAKING("trial shortened");
  if (field === "wallet") return walletChange(ch, ch.segments.slice(3));
  if (field === "currencies") return priceListChange(ch, base);
  if (field !== "entitlements" || !ent) return NONE;
  const before = entitlementAt(base, plan, ent);
  if (rest.length === 0) {
    if (ch.kind === "add") return NONE;
    const loss = entitlementLoss(before, ch.after as CompiledEntitlement | null);
    return loss ? BREAKING(loss) : NONE;
  }
  return entitlementField(ch, rest, before?.kind === "metered" ? before.price : null);
}

/** `plans.<p>.currencies.<C>...`: a price list read like the plan's own prices, in its currency. */
function priceListChange(ch: RawChange, base: CompiledPolicy): Verdict {
  const [, plan, , code, field, id, ...rest] = ch.segments;
  if (!field) {
    if (ch.kind !== "remove") return NONE;
    const on = Object.values(base.customers).filter((c) => c.plan === plan && c.currency === code);
    return on.length > 0
      ? BREAKING(
          `${code} price list removed while customers are invoiced in it: ${on.map((c) => c.id).join(", ")}`,
        )
      : NOTE(`${code} price list removed (no customer in the policy is invoiced in it)`);
  }
  if (field === "price" && moneyUp(ch.before, ch.after)) return BREAKING(`${code} recurring price raised`);
  if (field === "minimum" && moneyUp(ch.before, ch.after)) return BREAKING(`${code} minimum spend raised`);
  if (field === "caps" && id && ch.kind === "change" && moneyUp(ch.after, ch.before))
    return BREAKING(`${code} cap ${id} lowered`);
  if (field !== "entitlements" || !id) return NONE;
  const before = base.plans[plan ?? ""]?.currencies?.[code ?? ""]?.entitlements[id] ?? null;
  const v = priceField(ch, rest, before);
  return v.reason ? { ...v, reason: `${code} ${v.reason}` } : v;
}

function customerRule(ch: RawChange, base: CompiledPolicy, head: CompiledPolicy): Verdict {
  const [, customer, field, key, ...rest] = ch.segments;
  if (!field) return NONE;
  if (field === "currency")
    return BREAKING(
      `invoice currency changed (${ch.before ?? base.currency} -> ${ch.after ?? head.currency}): another price list applies`,
    );
  if (field === "wallet") return walletChange(ch, ch.segments.slice(3));
  if (field === "plan")
    return NOTE(`contract moves from ${ch.before ?? "store plan"} to ${ch.after ?? "store plan"}`);
  if (field === "addOns") return addOnVerdict(ch, key, head);
  if (field === "discounts") {
    if (!key) return NONE;
    if (rest.length === 0) return ch.kind === "remove" ? BREAKING("discount removed") : NONE;
    return rest[0] === "percent" && moneyUp(ch.after, ch.before) ? BREAKING("discount lowered") : NONE;
  }
  if (field === "credits") {
    if (!key) return NONE;
    if (rest.length === 0) return ch.kind === "remove" ? BREAKING("credit removed") : NONE;
    if (rest[0] === "amount" && moneyUp(ch.after, ch.before)) return BREAKING("credit amount lowered");
    if (
      rest[0] === "expires" &&
      typeof ch.after === "string" &&
      (ch.before === null || ch.after < String(ch.before))
    )
      return BREAKING("credit expires earlier");
    return NONE;
  }
  if (field === "overrides" && key) {
    const headPlan = customerPlanEntitlement(head, customer, key);
    if (rest.length === 0) {
      const r =
        ch.kind === "remove"
          ? overrideRemoved(ch.before as EntitlementOverride, headPlan)
          : ch.kind === "add"
            ? overrideAdded(ch.after as EntitlementOverride, headPlan)
            : null;
      return r ? BREAKING(r) : NONE;
    }
    const planEnt = customerPlanEntitlement(base, customer, key);
    const ov = base.customers[customer ?? ""]?.overrides[key];
    const baseModel = ov?.price !== undefined ? ov.price : planEnt?.kind === "metered" ? planEnt.price : null;
    // An override field that appears or disappears is compared with the plan value it replaces.
    const planValue = (ent: CompiledEntitlement | undefined) =>
      ent?.kind === "metered" && rest.length === 1
        ? (ent as unknown as Record<string, unknown>)[rest[0] ?? ""]
        : undefined;
    const effective: RawChange = {
      ...ch,
      before: ch.kind === "add" ? (planValue(planEnt) ?? null) : ch.before,
      after: ch.kind === "remove" ? (planValue(headPlan) ?? null) : ch.after,
    };
    return entitlementField(effective, rest, baseModel);
  }
  return NONE;
}
