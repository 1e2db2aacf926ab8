import { compileCaps, compileCreditUnits } from "./credits/compile.js";
import type {
  ChargeModel,
  CompiledAlert,
  CompiledChannel,
  CompiledCustomer,
  CompiledEntitlement,
  CompiledMeter,
  CompiledPlan,
  CompiledPolicy,
  CostRate,
  Credit,
  EntitlementOverride,
  PlanPriceList,
  PropertyValue,
  Tier,
} from "./model.js";
import { currencyDigits, decStr } from "./money.js";
import { compilePeriod } from "./periods/spec.js";
import { compileCustomerWallet, compileWallet } from "./wallet/compile.js";

/**
 * Compile a merged, validated policy document (the YAML shape of SPEC §2)
 * into the canonical model. Pure and deterministic. It trusts its input to
 * have passed validation; anything it cannot make sense of is a bug upstream.
 */
// biome-ignore lint/suspicious/noExplicitAny: the input is schema-validated YAML data
type Raw = any;

const money = (v: unknown, fallback = "0"): string =>
  v === undefined || v === null ? fallback : decStr(String(v));

function entries(obj: Raw): [string, Raw][] {
  if (!obj || typeof obj !== "object") return [];
  return Object.keys(obj)
    .sort()
    .map((k) => [k, obj[k]]);
}

function toList<T>(v: T | T[] | undefined | null): T[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function isoDate(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return String(v);
}

export function compileChargeModel(raw: Raw): ChargeModel {
  switch (raw.model) {
    case "per_unit":
      return { model: "per_unit", unitPrice: money(raw.unit_price), freeUnits: raw.free_units ?? 0 };
    case "graduated":
    case "volume":
      return { model: raw.model, tiers: (raw.tiers as Raw[]).map(compileTier) };
    case "package":
      return {
        model: "package",
        packageSize: raw.package_size,
        packagePrice: money(raw.package_price),
        freeUnits: raw.free_units ?? 0,
        rounding: raw.rounding ?? "up",
      };
    case "percentage":
      return {
        model: "percentage",
        rate: money(raw.rate),
        fixedFee: money(raw.fixed_fee),
        freeEvents: raw.free_events ?? 0,
      };
    default:
      throw new Error(`unknown charge model ${String(raw.model)}`);
  }
}

function compileTier(raw: Raw): Tier {
  return {
    upTo: raw.up_to === undefined || raw.up_to === null ? null : Number(raw.up_to),
    unitPrice: money(raw.unit_price),
    flatFee: money(raw.flat_fee),
  };
}

/** `overage: X` with `limit: L` is exactly graduated [{up_to: L, unit_price: 0}, {unit_price: X}] (SPEC §2.3). */
export function overageModel(limit: number, overage: unknown): ChargeModel {
  return {
    model: "graduated",
    tiers: [
      { upTo: limit, unitPrice: "0", flatFee: "0" },
      { upTo: null, unitPrice: money(overage), flatFee: "0" },
    ],
  };
}

function priceOf(raw: Raw, limit: number | null): ChargeModel | null {
  if (raw.price !== undefined && raw.price !== null) return compileChargeModel(raw.price);
  if (raw.overage !== undefined && raw.overage !== null && limit !== null)
    return overageModel(limit, raw.overage);
  return null;
}

function compileEntitlement(id: string, raw: Raw): CompiledEntitlement {
  if (typeof raw === "boolean") return { kind: "flag", id, enabled: raw };
  const limit = raw.limit === undefined || raw.limit === null ? null : Number(raw.limit);
  return {
    kind: "metered",
    id,
    meter: raw.meter,
    limit,
    period: compilePeriod(raw.period),
    mode: raw.mode ?? "hard",
    scope: raw.scope ?? "customer",
    price: priceOf(raw, limit),
    rate: raw.rate ? { capacity: Number(raw.rate.capacity), perSecond: Number(raw.rate.per_second) } : null,
  };
}

function compileCost(raw: Raw): CostRate | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object") return { by: null, rates: {}, default: money(raw) };
  const rates: Record<string, string> = {};
  for (const [k, v] of entries(raw.rates)) rates[k] = money(v);
  return { by: raw.by ?? null, rates, default: raw.default === undefined ? null : money(raw.default) };
}

function compileMeter(id: string, raw: Raw): CompiledMeter {
  const where: Record<string, PropertyValue[]> = {};
  for (const [k, v] of entries(raw.where)) where[k] = toList(v as PropertyValue | PropertyValue[]);
  const aggregation = raw.aggregation ?? "sum";
  return {
    id,
    description: raw.description ?? null,
    unit: raw.unit ?? null,
    events: toList<string>(raw.event ?? id),
    aggregation,
    property: raw.property ?? null,
    where,
    groupBy: toList<string>(raw.group_by),
    cost: compileCost(raw.cost),
    ...(aggregation === "time_weighted" ? { unitTime: raw.unit_time ?? "hour" } : {}),
  };
}

function compilePlan(id: string, raw: Raw, currency: string): CompiledPlan {
  const entitlements: Record<string, CompiledEntitlement> = {};
  for (const [k, v] of entries(raw.entitlements)) entitlements[k] = compileEntitlement(k, v);
  return {
    id,
    name: raw.name ?? id,
    default: raw.default === true,
    price: money(raw.price),
    interval: raw.interval ?? "month",
    anchor: raw.anchor ?? "calendar",
    trialDays: raw.trial_days ?? 0,
    minimum: money(raw.minimum),
    entitlements,
    ...(raw.wallet ? { wallet: compileWallet(raw.wallet, currency) } : {}),
    ...optional("caps", compileCaps(raw.caps)),
    ...optional("currencies", compilePriceLists(raw.currencies, entitlements)),
    ...(raw.add_on === true ? { addOn: true as const } : {}),
  };
}

/** `currencies:` of a plan: each list's money, with `overage` sugar expanded against the plan's limit. */
function compilePriceLists(
  raw: Raw,
  entitlements: Record<string, CompiledEntitlement>,
): Record<string, PlanPriceList> | undefined {
  if (!raw || typeof raw !== "object" || Object.keys(raw).length === 0) return undefined;
  const out: Record<string, PlanPriceList> = {};
  for (const [code, list] of entries(raw)) {
    const prices: Record<string, ChargeModel> = {};
    for (const [id, v] of entries(list?.entitlements)) {
      const ent = entitlements[id];
      const price = priceOf(v ?? {}, ent?.kind === "metered" ? ent.limit : null);
      if (price !== null) prices[id] = price;
    }
    const caps: Record<string, string> = {};
    for (const [id, v] of entries(list?.caps)) caps[id] = money(v?.amount);
    out[code.toUpperCase()] = {
      price: money(list?.price),
      minimum: money(list?.minimum),
      entitlements: prices,
      caps,
    };
  }
  return out;
}

/** `base`: the plan's entitlement, with its price in the contract's currency (see compileCustomer). */
function compileOverride(raw: Raw, base: CompiledEntitlement | undefined): EntitlementOverride {
  const out: EntitlementOverride = { expires: isoDate(raw.expires) };
  if ("limit" in raw) out.limit = raw.limit === null ? null : Number(raw.limit);
  if (raw.mode !== undefined) out.mode = raw.mode;
  if (raw.price !== undefined) out.price = raw.price === null ? null : compileChargeModel(raw.price);
  else if (raw.overage !== undefined) {
    const limit = out.limit ?? (base?.kind === "metered" ? base.limit : null);
    if (limit !== null && limit !== undefined) out.price = overageModel(limit, raw.overage);
  } else if (out.limit !== undefined && out.limit !== null && base?.kind === "metered") {
    // A raised limit on an `overage` entitlement moves the free tier with it.
    const p = base.price;
    if (
      p?.model === "graduated" &&
      p.tiers.length === 2 &&
      p.tiers[0]?.unitPrice === "0" &&
      p.tiers[0].upTo === base.limit
    ) {
      out.price = overageModel(out.limit, p.tiers[1]?.unitPrice ?? "0");
    }
  }
  return out;
}

function compileCustomer(id: string, raw: Raw, plans: Record<string, CompiledPlan>): CompiledCustomer {
  const planId: string | null = raw.plan ?? null;
  const plan = planId ? plans[planId] : undefined;
  // A contract in another currency overrides the plan's prices in that currency's list.
  const list = typeof raw.currency === "string" ? plan?.currencies?.[raw.currency.toUpperCase()] : undefined;
  const baseOf = (k: string): CompiledEntitlement | undefined => {
    const ent = plan?.entitlements[k];
    return ent?.kind === "metered" && list !== undefined
      ? { ...ent, price: list.entitlements[k] ?? null }
      : ent;
  };
  const overrides: Record<string, EntitlementOverride> = {};
  for (const [k, v] of entries(raw.overrides)) overrides[k] = compileOverride(v, baseOf(k));
  const metadata: Record<string, PropertyValue> = {};
  for (const [k, v] of entries(raw.metadata)) metadata[k] = v instanceof Date ? v.toISOString() : v;
  const credits: Credit[] = toList<Raw>(raw.credits).map((c, i) => ({
    id: c.id ?? `${id}#${i + 1}`,
    amount: money(c.amount),
    priority: c.priority ?? 0,
    expires: isoDate(c.expires),
    starts: isoDate(c.starts),
  }));
  const addOns = [...new Set(toList<string>(raw.add_ons))].sort();
  return {
    id,
    plan: planId,
    ...optional("currency", typeof raw.currency === "string" ? raw.currency.toUpperCase() : undefined),
    ...(addOns.length > 0 ? { addOns } : {}),
    parent: raw.parent ?? null,
    since: isoDate(raw.since),
    metadata,
    overrides,
    discounts: toList<Raw>(raw.discounts).map((d) => ({
      entitlement: d.entitlement ?? null,
      percent: money(d.percent),
    })),
    credits,
    ...(raw.wallet ? { wallet: compileCustomerWallet(raw.wallet) } : {}),
    ...optional("caps", compileCaps(raw.caps)),
  };
}

function compileAlert(id: string, raw: Raw): CompiledAlert {
  return {
    id,
    when: String(raw.when),
    entitlement: raw.entitlement ?? null,
    plans: toList<string>(raw.plans),
    customers: toList<string>(raw.customers),
    channels: toList<string>(raw.channels),
    once: raw.once ?? "period",
  };
}

function compileChannel(id: string, raw: Raw): CompiledChannel {
  return {
    id,
    type: raw.type,
    url: String(raw.url ?? ""),
    secret: raw.secret ?? null,
    to: toList<string>(raw.to),
  };
}

/** A field the model leaves out when absent, so policies without it compile (and digest) as before. */
function optional<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

function mapOf<T>(obj: Raw, fn: (id: string, raw: Raw) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of entries(obj)) out[k] = fn(k, v);
  return out;
}

export function compilePolicy(raw: Raw): CompiledPolicy {
  const currency = String(raw.currency ?? "USD").toUpperCase();
  const plans = mapOf(raw.plans, (id, p) => compilePlan(id, p, currency));
  const defaultPlan = Object.values(plans).find((p) => p.default)?.id ?? null;
  return {
    formatVersion: 1,
    name: raw.name ?? "limitr",
    currency,
    currencyDigits: currencyDigits(currency),
    timezone: raw.timezone ?? "UTC",
    meters: mapOf(raw.meters, compileMeter),
    ...optional("creditUnits", compileCreditUnits(raw.credit_units)),
    plans,
    defaultPlan,
    customers: mapOf(raw.customers, (id, c) => compileCustomer(id, c, plans)),
    alerts: mapOf(raw.alerts, compileAlert),
    channels: mapOf(raw.channels, compileChannel),
    bundles: raw.bundles
      ? { store: raw.bundles.store ?? null, environments: toList<string>(raw.bundles.environments) }
      : null,
  };
}

/** Canonical JSON: keys sorted at every level, no whitespace. Same model, same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}
