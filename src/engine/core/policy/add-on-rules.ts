import type { Diagnostic } from "./diagnostics.js";
import { entriesOf, has, isMap, listNames, listOf, mapOf, problem, type Rule, str } from "./rule-context.js";
import { didYouMean } from "./suggest.js";

/**
 * Add-on rules (SPEC §15): an add-on plan (`add_on: true`) is only ever held
 * on top of a base plan, and its entitlements must stack on the base plans'
 * (same kind, meter and period), since their limits are added up.
 */
const isAddOn = (plan: unknown): boolean => mapOf(plan).add_on === true;

/** What an add-on carries that only a base plan can: the customer's wallet, caps and minimum spend. */
const BASE_ONLY = ["default", "wallet", "caps", "minimum"] as const;

export const addOnPlanFields: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [id, plan] of entriesOf(ctx.raw.plans)) {
    if (!isAddOn(plan)) continue;
    const p = mapOf(plan);
    for (const field of BASE_ONLY) {
      if (!has(p, field) || (field === "default" && p.default !== true)) continue;
      // A zero minimum is no minimum (compiled policies spell the default out).
      if (field === "minimum" && Number(p.minimum) === 0) continue;
      out.push(
        problem(ctx, ["plans", id, field], {
          code: "add-on/base-only-field",
          message: `plans.${id} is an add-on and cannot set ${field}`,
          hint:
            field === "default"
              ? "new customers get a base plan: mark another plan default"
              : `${field} belongs to the customer's base plan; move it there`,
          atKey: true,
        }),
      );
    }
  }
  return out;
};

/** A contract's `plan` must be a base plan; its `add_ons` must be add-on plans, each once, beside a plan. */
export const contractAddOns: Rule = (ctx) => {
  const plans = mapOf(ctx.raw.plans);
  const ids = new Set(Object.keys(plans));
  const addOnIds = new Set([...ids].filter((id) => isAddOn(plans[id])));
  const out: Diagnostic[] = [];
  for (const [id, c] of entriesOf(ctx.raw.customers)) {
    const customer = mapOf(c);
    const plan = str(customer.plan);
    if (plan !== null && addOnIds.has(plan)) {
      out.push(
        problem(ctx, ["customers", id, "plan"], {
          code: "add-on/as-base-plan",
          message: `customers.${id} is on plan "${plan}", which is an add-on`,
          hint: `put a base plan in plan and "${plan}" under add_ons`,
        }),
      );
    }
    if (!has(customer, "add_ons")) continue;
    if (plan === null) {
      out.push(
        problem(ctx, ["customers", id, "add_ons"], {
          code: "add-on/without-plan",
          message: `customers.${id} holds add-ons but names no plan`,
          hint: "add-ons stack on a base plan: add `plan: <plan>` to the contract",
          atKey: true,
        }),
      );
    }
    const seen = new Set<string>();
    listOf(customer.add_ons).forEach((raw, i) => {
      const addOn = str(raw);
      if (addOn === null) return; // the schema stage reports it
      const at = ["customers", id, "add_ons", i];
      if (seen.has(addOn)) {
        out.push(
          problem(ctx, at, {
            code: "add-on/duplicate",
            message: `customers.${id} lists add-on "${addOn}" twice`,
            hint: "an add-on is held once; remove the repeat",
          }),
        );
        return;
      }
      seen.add(addOn);
      if (!ids.has(addOn)) {
        out.push(
          problem(ctx, at, {
            code: "ref/unknown-add-on",
            message: `customers.${id} holds add-on "${addOn}", which is not a plan`,
            hint: didYouMean(addOn, addOnIds) ?? `add-on plans: ${listNames(addOnIds)}`,
          }),
        );
      } else if (!addOnIds.has(addOn)) {
        out.push(
          problem(ctx, at, {
            code: "add-on/not-an-add-on",
            message: `customers.${id} holds "${addOn}" as an add-on, but plans.${addOn} is not one`,
            hint: `mark it \`add_on: true\` (then no customer can hold it as a base plan), or list an add-on plan (${listNames(addOnIds)})`,
          }),
        );
      }
    });
  }
  return out;
};

/**
 * How an entitlement counts, for comparing an add-on's with a base plan's:
 * kind, meter and period; null for a shape the schema stage already reports.
 */
function shape(ent: unknown): string | null {
  if (typeof ent === "boolean") return "flag";
  if (!isMap(ent)) return null;
  const meter = str(ent.meter);
  const period = ent.period === undefined ? "month" : ent.period;
  const text = typeof period === "string" ? period : isMap(period) ? periodText(period) : null;
  return meter === null || text === null ? null : `meter ${meter}, period ${text}`;
}

function periodText(period: Record<string, unknown>): string {
  return Object.keys(period)
    .sort()
    .map((k) => `${k}: ${typeof period[k] === "string" ? period[k] : "?"}`)
    .join(", ");
}

/**
 * Limits add only when they count the same thing over the same period: an
 * add-on entitlement must have the kind, meter and period of a base plan's
 * entitlement of the same id (when some base plan has one).
 */
export const addOnEntitlementsStack: Rule = (ctx) => {
  const plans = entriesOf(ctx.raw.plans);
  // Entitlement id -> shape -> the first base plan with it. Base plans may differ among themselves.
  const base = new Map<string, Map<string, string>>();
  for (const [planId, plan] of plans) {
    if (isAddOn(plan)) continue;
    for (const [id, ent] of entriesOf(mapOf(plan).entitlements)) {
      const s = shape(ent);
      if (s === null) continue;
      const shapes = base.get(id) ?? new Map<string, string>();
      if (!shapes.has(s)) shapes.set(s, planId);
      base.set(id, shapes);
    }
  }
  const out: Diagnostic[] = [];
  for (const [planId, plan] of plans) {
    if (!isAddOn(plan)) continue;
    for (const [id, ent] of entriesOf(mapOf(plan).entitlements)) {
      const shapes = base.get(id);
      const mine = shape(ent);
      if (mine === null || shapes === undefined || shapes.has(mine)) continue;
      const [otherShape, otherPlan] = [...shapes][0] as [string, string];
      const other = { plan: otherPlan, shape: otherShape };
      out.push(
        problem(ctx, ["plans", planId, "entitlements", id], {
          code: "add-on/entitlement-mismatch",
          message: `plans.${planId}.entitlements.${id} (${mine}) cannot stack on plans.${other.plan}.entitlements.${id} (${other.shape})`,
          hint: "an add-on's limit adds to the base plan's: use the same meter and period (or a flag for a flag)",
          atKey: true,
        }),
      );
    }
  }
  return out;
};

export const addOnRules: Rule[] = [addOnPlanFields, contractAddOns, addOnEntitlementsStack];
