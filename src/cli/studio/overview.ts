import type { CompiledEntitlement, CompiledPolicy, EntitlementOverride } from "limitr-engine/core/model";
import { periodLabel } from "limitr-engine/core/periods/spec";
import {
  describePrice,
  formatAmount,
  formatCount,
  type PriceWords,
} from "limitr-engine/core/rating/describe-price";

/** What the studio's browse pages show: the compiled policy, in words a price page would use. */
export type EntitlementCell =
  | { kind: "flag"; enabled: boolean }
  | {
      kind: "metered";
      meter: string;
      limit: string;
      mode: string;
      period: string;
      price: string;
      /** Priced by a tier table (graduated or volume): the studio edits its rows. */
      tiered: boolean;
    };

export interface PlanRow {
  id: string;
  name: string;
  fee: string;
  /** The plan's wallet grant in words, or null without one. */
  wallet: string | null;
  entitlements: Record<string, EntitlementCell>;
}

export interface Overview {
  name: string;
  currency: string;
  plans: PlanRow[];
  /** Every entitlement id any plan has, in first-seen order: the matrix's rows. */
  entitlements: string[];
  meters: { id: string; description: string; unit: string; aggregation: string; events: string[] }[];
  customers: {
    id: string;
    plan: string;
    parent: string | null;
    since: string | null;
    terms: string[];
  }[];
}

const limitWords = (limit: number | null | undefined) =>
  limit === null || limit === undefined ? "unlimited" : formatCount(limit);

function cell(e: CompiledEntitlement, words: PriceWords, tiered: boolean): EntitlementCell {
  if (e.kind === "flag") return { kind: "flag", enabled: e.enabled };
  return {
    kind: "metered",
    meter: e.meter,
    limit: limitWords(e.limit),
    mode: e.mode,
    period: periodLabel(e.period),
    price: describePrice(e.price, words),
    tiered,
  };
}

function overrideWords(id: string, o: EntitlementOverride, words: PriceWords): string {
  const parts: string[] = [];
  if (o.limit !== undefined) parts.push(`limit ${limitWords(o.limit)}`);
  if (o.mode !== undefined) parts.push(`mode ${o.mode}`);
  if (o.price !== undefined) parts.push(`price ${describePrice(o.price, words)}`);
  return `${id}: ${parts.join(", ")}${o.expires ? ` until ${o.expires}` : ""}`;
}

/** Ids in the order the person wrote them (`order`), then any others in the compiled order. */
function ordered(ids: string[], order: readonly string[]): string[] {
  const known = order.filter((id) => ids.includes(id));
  return [...known, ...ids.filter((id) => !known.includes(id))];
}

/** The browse pages' data; `order` lists plan and entitlement ids as the YAML has them. */
export function overview(
  policy: CompiledPolicy,
  order: { plans: string[]; entitlements: string[]; tiered?: string[] } = { plans: [], entitlements: [] },
): Overview {
  const words = { currency: policy.currency, digits: policy.currencyDigits };
  const tiers = new Set(order.tiered ?? []);
  const plans = ordered(Object.keys(policy.plans), order.plans).map((id) => policy.plans[id]!);
  const entitlements = ordered(
    [...new Set(plans.flatMap((p) => Object.keys(p.entitlements)))],
    order.entitlements,
  );
  return {
    name: policy.name,
    currency: policy.currency,
    entitlements,
    plans: plans.map((p) => ({
      id: p.id,
      name: p.name,
      fee: `${formatAmount(p.price, words)} per ${p.interval}`,
      wallet: p.wallet?.grant
        ? `${p.wallet.grant.amount} ${p.wallet.unit} every ${p.wallet.grant.every}`
        : p.wallet
          ? `wallet in ${p.wallet.unit}`
          : null,
      entitlements: Object.fromEntries(
        Object.entries(p.entitlements).map(([id, e]) => [id, cell(e, words, tiers.has(`${p.id}/${id}`))]),
      ),
    })),
    meters: Object.values(policy.meters).map((m) => ({
      id: m.id,
      description: m.description ?? "",
      unit: m.unit ?? "",
      aggregation: m.aggregation,
      events: m.events,
    })),
    customers: Object.values(policy.customers).map((c) => ({
      id: c.id,
      plan: c.plan ?? policy.defaultPlan ?? "",
      parent: c.parent,
      since: c.since,
      terms: [
        ...Object.entries(c.overrides).map(([id, o]) => `override ${overrideWords(id, o, words)}`),
        ...c.discounts.map((d) => `${d.percent}% off ${d.entitlement ?? "the whole invoice"}`),
        ...c.credits.map(
          (k) => `credit of ${formatAmount(k.amount, words)}${k.expires ? `, expires ${k.expires}` : ""}`,
        ),
      ],
    })),
  };
}
