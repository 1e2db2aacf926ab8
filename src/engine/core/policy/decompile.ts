import { decompileCaps, decompileCreditUnits } from "../credits/compile.js";
import type {
  ChargeModel,
  CompiledCustomer,
  CompiledEntitlement,
  CompiledMeter,
  CompiledPlan,
  CompiledPolicy,
  EntitlementOverride,
} from "../model.js";
import { decompileCustomerWallet, decompileWallet } from "../wallet/compile.js";

/**
 * A compiled policy written back in the YAML shape of SPEC §2 (the inverse
 * of `compilePolicy`, with every default spelled out), so a policy that
 * arrives compiled (a bundle, a cached bundle) goes through the same
 * validator as the files it was built from. Pure. It trusts the structure
 * (`validateCompiledPolicy` checks that first); values are left to the
 * validator, which is the point.
 *
 * @example
 *   validatePolicyDocument(decompilePolicy(bundle.policy));
 */
export function decompilePolicy(p: CompiledPolicy): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    limitr: p.formatVersion,
    name: p.name,
    currency: p.currency,
    timezone: p.timezone,
    meters: each(p.meters, meter),
    plans: each(p.plans, plan),
    customers: each(p.customers, customer),
    alerts: each(p.alerts, (a) =>
      compact({
        when: a.when,
        entitlement: a.entitlement,
        plans: a.plans,
        customers: a.customers,
        channels: a.channels,
        once: a.once,
      }),
    ),
    channels: each(p.channels, (c) =>
      compact({ type: c.type, url: c.url, secret: c.secret, to: c.type === "email" ? c.to : undefined }),
    ),
  };
  if (p.creditUnits) doc.credit_units = decompileCreditUnits(p.creditUnits);
  if (p.bundles) doc.bundles = compact({ store: p.bundles.store, environments: p.bundles.environments });
  return doc;
}

function each<T>(map: Record<string, T>, fn: (value: T) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [id, value] of Object.entries(map)) out[id] = fn(value);
  return out;
}

/** Drop absent values: the format spells "not set" by leaving a key out. */
function compact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(fields)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

function meter(m: CompiledMeter): Record<string, unknown> {
  const cost =
    m.cost === null
      ? null
      : m.cost.by === null
        ? m.cost.default
        : compact({ by: m.cost.by, rates: m.cost.rates, default: m.cost.default });
  return compact({
    description: m.description,
    unit: m.unit,
    event: m.events,
    aggregation: m.aggregation,
    property: m.property,
    unit_time: m.unitTime,
    where: m.where,
    group_by: m.groupBy,
    cost,
  });
}

function plan(p: CompiledPlan): Record<string, unknown> {
  return compact({
    name: p.name,
    add_on: p.addOn,
    default: p.default,
    price: p.price,
    interval: p.interval,
    anchor: p.anchor,
    trial_days: p.trialDays,
    minimum: p.minimum,
    entitlements: each(p.entitlements, entitlement),
    caps: p.caps ? decompileCaps(p.caps) : undefined,
    wallet: p.wallet ? decompileWallet(p.wallet) : undefined,
    currencies: p.currencies
      ? each(p.currencies, (l) => ({
          price: l.price,
          minimum: l.minimum,
          entitlements: each(l.entitlements, (m) => ({ price: chargeModel(m) })),
          caps: each(l.caps, (amount) => ({ amount })),
        }))
      : undefined,
  });
}

function entitlement(e: CompiledEntitlement): unknown {
  if (e.kind === "flag") return e.enabled;
  return compact({
    meter: e.meter,
    limit: e.limit,
    period:
      typeof e.period === "string"
        ? e.period
        : "sliding" in e.period
          ? { sliding: e.period.sliding }
          : { every: e.period.every, anchor: e.period.anchor },
    mode: e.mode,
    scope: e.scope,
    price: e.price === null ? null : chargeModel(e.price),
    rate: e.rate === null ? null : { capacity: e.rate.capacity, per_second: e.rate.perSecond },
  });
}

function chargeModel(m: ChargeModel): Record<string, unknown> {
  switch (m.model) {
    case "per_unit":
      return { model: m.model, unit_price: m.unitPrice, free_units: m.freeUnits };
    case "graduated":
    case "volume":
      return {
        model: m.model,
        tiers: m.tiers.map((t) => compact({ up_to: t.upTo, unit_price: t.unitPrice, flat_fee: t.flatFee })),
      };
    case "package":
      return {
        model: m.model,
        package_size: m.packageSize,
        package_price: m.packagePrice,
        free_units: m.freeUnits,
        rounding: m.rounding,
      };
    case "percentage":
      return { model: m.model, rate: m.rate, fixed_fee: m.fixedFee, free_events: m.freeEvents };
    default:
      // An unknown model: pass it on so the schema names it.
      return m as unknown as Record<string, unknown>;
  }
}

function override(o: EntitlementOverride): Record<string, unknown> {
  const out = compact({ mode: o.mode, expires: o.expires });
  if (o.limit !== undefined) out.limit = o.limit;
  if (o.price !== undefined) out.price = o.price === null ? null : chargeModel(o.price);
  return out;
}

function customer(c: CompiledCustomer): Record<string, unknown> {
  return compact({
    plan: c.plan,
    currency: c.currency,
    add_ons: c.addOns,
    parent: c.parent,
    since: c.since,
    metadata: c.metadata,
    overrides: each(c.overrides, override),
    caps: c.caps ? decompileCaps(c.caps) : undefined,
    wallet: c.wallet ? decompileCustomerWallet(c.wallet) : undefined,
    discounts: c.discounts.map((d) => compact({ entitlement: d.entitlement, percent: d.percent })),
    credits: c.credits.map((k, i) =>
      compact({
        // The compiler names unnamed credits `<customer>#<n>`, which is not an id one may write.
        id: k.id === `${c.id}#${i + 1}` ? undefined : k.id,
        amount: k.amount,
        priority: k.priority,
        starts: k.starts,
        expires: k.expires,
      }),
    ),
  });
}
