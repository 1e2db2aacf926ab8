import type { Diagnostic } from "./diagnostics.js";
import { dotted, escapeSegment, segmentsOf } from "./locations.js";
import {
  entriesOf,
  has,
  isMap,
  listOf,
  mapOf,
  num,
  type Path,
  problem,
  type Rule,
  type RuleContext,
  sectionEntries,
  str,
} from "./rule-context.js";

/** Unit prices may carry up to 12 decimal places (SPEC §2.3); more is almost always a typo. */
const MAX_PRICE_PLACES = 12;

interface PricedTarget {
  path: Path;
  label: string;
  body: Record<string, unknown>;
  /** The plan's entitlement an override modifies (for its limit and meter). */
  base: Record<string, unknown> | null;
}

/** Every entitlement of every plan, and every customer override, with where it lives. */
function pricedTargets(ctx: RuleContext): PricedTarget[] {
  const out: PricedTarget[] = [];
  const plans = mapOf(ctx.raw.plans);
  for (const [planId, plan] of Object.entries(plans)) {
    for (const [id, ent] of entriesOf(mapOf(plan).entitlements)) {
      if (isMap(ent))
        out.push({
          path: ["plans", planId, "entitlements", id],
          label: `plans.${planId}.entitlements.${id}`,
          body: ent,
          base: null,
        });
    }
  }
  for (const [cid, c] of sectionEntries(ctx, "customers")) {
    const customer = mapOf(c);
    const plan = str(customer.plan);
    const planEnts = plan !== null ? mapOf(mapOf(plans[plan]).entitlements) : mapOf(null);
    for (const [id, o] of entriesOf(customer.overrides)) {
      if (!isMap(o)) continue;
      const base = planEnts[id];
      out.push({
        path: ["customers", cid, "overrides", id],
        label: `customers.${cid}.overrides.${id}`,
        body: o,
        base: isMap(base) ? base : null,
      });
    }
  }
  return out;
}

export const overageNeedsLimit: Rule = (ctx) =>
  pricedTargets(ctx)
    .filter((t) => has(t.body, "overage") && !has(t.body, "limit") && !(t.base && num(t.base.limit) !== null))
    .map((t) =>
      problem(ctx, [...t.path, "overage"], {
        code: "entitlement/overage-needs-limit",
        message: `${t.label} has an overage price but no limit to be over`,
        hint: "add `limit:` (units included per period), or use `price:` for a charge from the first unit",
        atKey: true,
      }),
    );

export const priceOrOverage: Rule = (ctx) =>
  pricedTargets(ctx)
    .filter((t) => has(t.body, "overage") && has(t.body, "price"))
    .map((t) =>
      problem(ctx, [...t.path, "price"], {
        code: "entitlement/price-and-overage",
        message: `${t.label} sets both price and overage`,
        hint: "overage is shorthand for a graduated price: keep one of the two",
        atKey: true,
      }),
    );

/** Overrides change a metered entitlement; a feature flag has nothing to override but its plan's value. */
export const overridesOnMeteredOnly: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [cid, c] of sectionEntries(ctx, "customers")) {
    const customer = mapOf(c);
    const plan = str(customer.plan);
    if (plan === null) continue;
    const ents = mapOf(mapOf(mapOf(ctx.raw.plans)[plan]).entitlements);
    for (const [id] of entriesOf(customer.overrides)) {
      if (typeof ents[id] !== "boolean") continue;
      out.push(
        problem(ctx, ["customers", cid, "overrides", id], {
          code: "override/flag-entitlement",
          message: `customers.${cid}.overrides.${id} overrides a feature flag, which has no limit, mode or price`,
          hint: "give the customer a plan with the flag, or make the entitlement metered",
          atKey: true,
        }),
      );
    }
  }
  return out;
};

/** Graduated and volume tiers: `up_to` strictly increasing; only the last tier is open, and it must be. */
export const tiersOrdered: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const t of pricedTargets(ctx)) {
    const price = t.body.price;
    if (!isMap(price) || !Array.isArray(price.tiers)) continue;
    const tiers = listOf(price.tiers);
    let previous: number | null = null;
    tiers.forEach((tier, i) => {
      const path = [...t.path, "price", "tiers", i];
      const upTo = isMap(tier) ? num(tier.up_to) : null;
      const last = i === tiers.length - 1;
      const open = !isMap(tier) || !has(tier, "up_to");
      if (open && !last) {
        out.push(
          problem(ctx, path, {
            code: "tiers/open-tier-not-last",
            message: `${t.label}.price.tiers[${i}] has no up_to, but tiers follow it`,
            hint: "only the last tier may be open-ended; give this one an up_to",
          }),
        );
      } else if (!open && last) {
        out.push(
          problem(ctx, [...path, "up_to"], {
            code: "tiers/last-tier-bounded",
            message: `the last tier of ${t.label}.price has up_to ${upTo ?? "set"}; usage above it would have no price`,
            hint: "remove up_to from the last tier",
            atKey: true,
          }),
        );
      }
      if (upTo === null) return;
      if (previous !== null && upTo <= previous) {
        out.push(
          problem(ctx, [...path, "up_to"], {
            code: "tiers/not-increasing",
            message: `${t.label}.price.tiers[${i}].up_to is ${upTo}, not above the previous tier's ${previous}`,
            hint: "each tier's up_to (inclusive) must be greater than the one before",
          }),
        );
      }
      previous = upTo;
    });
  }
  return out;
};

/** The percentage model takes a percent of a summed amount; on other aggregations it means little. */
export const percentageOnSumMeter: Rule = (ctx) => {
  const meters = mapOf(ctx.raw.meters);
  return pricedTargets(ctx)
    .filter((t) => isMap(t.body.price) && t.body.price.model === "percentage")
    .flatMap((t) => {
      const meterId = str(t.body.meter) ?? (t.base ? str(t.base.meter) : null);
      const meter = meterId !== null ? meters[meterId] : undefined;
      if (!isMap(meter)) return [];
      const aggregation = str(meter.aggregation) ?? "sum";
      if (aggregation === "sum") return [];
      return [
        problem(ctx, [...t.path, "price", "model"], {
          severity: "warning",
          code: "price/percentage-needs-sum",
          message: `${t.label} charges a percentage of meter "${meterId}", which aggregates with ${aggregation}, not sum`,
          hint: "percentage pricing applies to a summed amount (e.g. a purchase value)",
        }),
      ];
    });
};

const PRICE_KEYS = new Set(["unit_price", "overage", "cost", "default"]);

/** More than 12 decimal places in a unit price: kept exactly, but flagged. */
export const pricePrecision: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  // Pointers as strings on the way down; a path is built only for a value that is reported.
  const visit = (value: unknown, ptr: string, key: string, parentKey: string) => {
    if (isMap(value)) {
      for (const k of Object.keys(value)) visit(value[k], `${ptr}/${escapeSegment(k)}`, k, key);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        visit(v, `${ptr}/${i}`, key, parentKey);
      });
      return;
    }
    if (!PRICE_KEYS.has(key) && parentKey !== "rates") return;
    const text = typeof value === "number" ? (ctx.numbers.get(ptr) ?? String(value)) : str(value);
    const places = text?.match(/\.(\d+)$/)?.[1]?.length ?? 0;
    if (places > MAX_PRICE_PLACES) {
      out.push(
        problem(ctx, segmentsOf(ptr), {
          severity: "warning",
          code: "money/precision",
          message: `${dotted(ptr)} has ${places} decimal places; unit prices carry at most ${MAX_PRICE_PLACES}`,
          hint: "check for a typo; the value is kept exactly as written",
        }),
      );
    }
  };
  visit(ctx.raw.meters, "/meters", "meters", "");
  visit(ctx.raw.plans, "/plans", "plans", "");
  visit(ctx.raw.customers, "/customers", "customers", "");
  return out;
};

export const pricingRules: Rule[] = [
  overageNeedsLimit,
  priceOrOverage,
  overridesOnMeteredOnly,
  tiersOrdered,
  percentageOnSumMeter,
  pricePrecision,
];
