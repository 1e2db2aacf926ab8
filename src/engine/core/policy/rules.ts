import { ISO_4217 } from "../money.js";
import { isValidTimezone } from "../periods.js";
import { addOnRules } from "./add-on-rules.js";
import { alertRules } from "./alert-rules.js";
import { creditRules } from "./credit-rules.js";
import { currencyRules } from "./currency-rules.js";
import type { Diagnostic } from "./diagnostics.js";
import { periodRules } from "./period-rules.js";
import { pricingRules } from "./pricing-rules.js";
import {
  entriesOf,
  has,
  idsOf,
  isMap,
  listNames,
  listOf,
  mapOf,
  problem,
  type Rule,
  type RuleContext,
  sectionEntries,
  str,
} from "./rule-context.js";
import { didYouMean } from "./suggest.js";
import { walletRules } from "./wallet-rules.js";

/** `limitr: 1` must be declared (merging already reports a second declaration). */
export const versionDeclared: Rule = (ctx) =>
  has(ctx.raw, "limitr")
    ? []
    : [
        problem(ctx, [], {
          code: "policy/missing-version",
          message: "no file declares the policy format version",
          hint: "add `limitr: 1` to one file (usually limitr.yaml)",
        }),
      ];

export const currencyKnown: Rule = (ctx) => {
  const code = str(ctx.raw.currency);
  if (code === null || ISO_4217.has(code.toUpperCase())) return [];
  return [
    problem(ctx, ["currency"], {
      code: "policy/currency",
      message: `currency ${JSON.stringify(code)} is not an ISO 4217 code`,
      hint: didYouMean(code.toUpperCase(), ISO_4217) ?? "use a three-letter code such as USD, EUR or JPY",
    }),
  ];
};

export const timezoneValid: Rule = (ctx) => {
  const zone = str(ctx.raw.timezone);
  if (zone === null || isValidTimezone(zone)) return [];
  return [
    problem(ctx, ["timezone"], {
      code: "policy/timezone",
      message: `timezone ${JSON.stringify(zone)} is not an IANA time zone`,
      hint: didYouMean(zone, Intl.supportedValuesOf("timeZone")) ?? "use a zone such as UTC or Europe/Paris",
    }),
  ];
};

export const meterPropertyRequired: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [id, meter] of entriesOf(ctx.raw.meters)) {
    if (!isMap(meter)) continue;
    const aggregation = str(meter.aggregation) ?? "sum";
    if (aggregation !== "count" && !has(meter, "property")) {
      out.push(
        problem(ctx, ["meters", id], {
          code: "meter/property-required",
          message: `meters.${id} aggregates with ${aggregation} but names no property`,
          hint: "add `property: <event property>` or use `aggregation: count`",
          atKey: true,
        }),
      );
    }
  }
  return out;
};

export const entitlementMetersExist: Rule = (ctx) => {
  // A credit unit is a meter too (SPEC §12).
  const meters = new Set([...idsOf(ctx, "meters"), ...idsOf(ctx, "credit_units")]);
  const out: Diagnostic[] = [];
  for (const [planId, plan] of sectionEntries(ctx, "plans")) {
    for (const [id, ent] of entriesOf(mapOf(plan).entitlements)) {
      const meter = isMap(ent) ? str(ent.meter) : null;
      if (meter === null || meters.has(meter)) continue;
      out.push(
        problem(ctx, ["plans", planId, "entitlements", id, "meter"], {
          code: "ref/unknown-meter",
          message: `plans.${planId}.entitlements.${id} uses meter "${meter}", which is not defined`,
          hint: didYouMean(meter, meters) ?? `define it under meters (known: ${listNames(meters)})`,
        }),
      );
    }
  }
  return out;
};

export const oneDefaultPlan: Rule = (ctx) => {
  const defaults = sectionEntries(ctx, "plans")
    .filter(([, plan]) => mapOf(plan).default === true)
    .map(([id]) => id);
  return defaults.slice(1).map((id) =>
    problem(ctx, ["plans", id, "default"], {
      code: "plan/multiple-defaults",
      message: `plans.${id} is marked default, but so is plans.${defaults[0]}`,
      hint: "at most one plan may be the default for new customers",
    }),
  );
};

export const customerRefsExist: Rule = (ctx) => {
  const plans = idsOf(ctx, "plans");
  const customers = idsOf(ctx, "customers");
  const out: Diagnostic[] = [];
  for (const [id, c] of sectionEntries(ctx, "customers")) {
    const customer = mapOf(c);
    const plan = str(customer.plan);
    if (plan !== null && !plans.has(plan)) {
      out.push(
        problem(ctx, ["customers", id, "plan"], {
          code: "ref/unknown-plan",
          message: `customers.${id} is on plan "${plan}", which is not defined`,
          hint: didYouMean(plan, plans) ?? `known plans: ${listNames(plans)}`,
        }),
      );
    }
    const parent = str(customer.parent);
    if (parent !== null && !customers.has(parent)) {
      out.push(
        problem(ctx, ["customers", id, "parent"], {
          code: "ref/unknown-customer",
          message: `customers.${id} has parent "${parent}", which is not a customer in the policy`,
          hint: didYouMean(parent, customers),
        }),
      );
    }
  }
  return out;
};

/**
 * The account tree must be a tree: following `parent` never comes back. Each
 * cycle is reported once, at its smallest id. Linear: every customer is
 * walked through once (a chain of thousands of parents is a normal tree).
 */
export const noParentCycles: Rule = (ctx) => {
  const parents = new Map<string, string>();
  for (const [id, c] of sectionEntries(ctx, "customers")) {
    const p = str(mapOf(c).parent);
    if (p !== null) parents.set(id, p);
  }
  /** Customers whose ancestry is known to end (or to have been reported). */
  const done = new Set<string>();
  const out: Diagnostic[] = [];
  for (const start of [...parents.keys()].sort()) {
    if (done.has(start)) continue;
    // Positions along this walk, to recognise coming back to a customer of the walk itself.
    const onPath = new Map<string, number>();
    const chain: string[] = [];
    let cur: string | undefined = start;
    while (cur !== undefined && !done.has(cur) && !onPath.has(cur)) {
      onPath.set(cur, chain.length);
      chain.push(cur);
      cur = parents.get(cur);
    }
    for (const c of chain) done.add(c);
    if (cur === undefined || !onPath.has(cur)) continue;
    const cycle = chain.slice(onPath.get(cur));
    const first = [...cycle].sort()[0] as string;
    const at = cycle.indexOf(first);
    const ordered = [...cycle.slice(at), ...cycle.slice(0, at), first];
    out.push(
      problem(ctx, ["customers", first, "parent"], {
        code: "customer/parent-cycle",
        message: `customers.${first} is its own ancestor: ${ordered.join(" -> ")}`,
        hint: "remove one `parent` so the account hierarchy is a tree",
      }),
    );
  }
  return out;
};

/** Overrides and per-entitlement discounts must name an entitlement of the customer's plan. */
export const contractEntitlementsExist: Rule = (ctx) => {
  const plans = mapOf(ctx.raw.plans);
  const everywhere = new Set(Object.values(plans).flatMap((p) => Object.keys(mapOf(mapOf(p).entitlements))));
  const ofPlan = new Map<string, Set<string>>();
  const out: Diagnostic[] = [];
  for (const [id, c] of sectionEntries(ctx, "customers")) {
    const customer = mapOf(c);
    const planId = str(customer.plan);
    const plan = planId !== null && isMap(plans[planId]) ? mapOf(plans[planId]) : null;
    if (planId !== null && plan === null) continue; // unknown plan: reported by customerRefsExist
    let known = everywhere;
    const addOns = listOf(customer.add_ons).filter(
      (a): a is string => typeof a === "string" && Object.hasOwn(plans, a) && isMap(plans[a]),
    );
    if (planId !== null && plan !== null) {
      known = ofPlan.get(planId) ?? new Set(Object.keys(mapOf(plan.entitlements)));
      ofPlan.set(planId, known);
      // Overrides and discounts may name what an add-on brings (SPEC §15).
      if (addOns.length > 0) {
        known = new Set(known);
        for (const a of addOns)
          for (const e of Object.keys(mapOf(mapOf(plans[a]).entitlements))) known.add(e);
      }
    }
    const where = plan ? `plan "${planId}"${addOns.length > 0 ? ` or its add-ons` : ""}` : "any plan";
    const check = (name: string, path: (string | number)[], atKey: boolean) => {
      if (known.has(name)) return;
      out.push(
        problem(ctx, path, {
          code: "ref/unknown-entitlement",
          message: `customers.${id} refers to entitlement "${name}", which is not in ${where}`,
          hint: didYouMean(name, known) ?? `entitlements of ${where}: ${listNames(known)}`,
          atKey,
        }),
      );
    };
    for (const [ent] of entriesOf(customer.overrides)) check(ent, ["customers", id, "overrides", ent], true);
    (Array.isArray(customer.discounts) ? customer.discounts : []).forEach((d, i) => {
      const ent = str(mapOf(d).entitlement);
      if (ent !== null) check(ent, ["customers", id, "discounts", i, "entitlement"], false);
    });
  }
  return out;
};

export const policyRules: Rule[] = [
  versionDeclared,
  currencyKnown,
  timezoneValid,
  meterPropertyRequired,
  entitlementMetersExist,
  oneDefaultPlan,
  customerRefsExist,
  noParentCycles,
  contractEntitlementsExist,
];

/** Every named semantic rule, in reporting order. */
export const RULES: Rule[] = [
  ...policyRules,
  ...periodRules,
  ...pricingRules,
  ...currencyRules,
  ...alertRules,
  ...walletRules,
  ...creditRules,
  ...addOnRules,
];

export function runRules(ctx: RuleContext, rules: readonly Rule[] = RULES): Diagnostic[] {
  return rules.flatMap((rule) => rule(ctx));
}
