import { DateTime } from "luxon";
import { scopeOwner } from "../accounts.js";
import { stackedPlan } from "../add-ons.js";
import { creditUsage, unitMeter } from "../credits/rating.js";
import type {
  ChargeModel,
  CompiledCustomer,
  CompiledPolicy,
  DecimalString,
  MeteredEntitlement,
} from "../model.js";
import { type Decimal, decStr, ZERO } from "../money.js";
import { calendarWindow, endOfDate, isoDate, startOfDate, type Window } from "../periods.js";
import { meterCost } from "../usage/meters.js";
import { rateCharge } from "./charge-models.js";
import type { CustomerPricing, InvoiceLine } from "./invoice.js";
import type { Segment } from "./timeline.js";

/**
 * Usage lines: each metered entitlement of a plan segment, rated under the
 * policy that priced it, with the usage of the account that owns its counter.
 */
/** Where an entitlement's usage is billed (R7 scopes): the counter's owner. */
export function accountFor(policy: CompiledPolicy, customer: string, ent: MeteredEntitlement): string {
  return scopeOwner(policy.customers, customer, ent.scope);
}

export function poolKey(owner: string, entitlement: string): string {
  return `${owner}\u0000${entitlement}`;
}

/**
 * Contract customers whose entitlement counts against an ancestor (scope
 * parent/root) are pooled into the owner's line of the same entitlement.
 */
export function poolMembers(policy: CompiledPolicy): Map<string, string[]> {
  const pools = new Map<string, string[]>();
  for (const c of Object.values(policy.customers).sort((a, b) => a.id.localeCompare(b.id))) {
    const plan = c.plan ? stackedPlan(policy.plans, c.plan, c.addOns) : undefined;
    for (const ent of Object.values(plan?.entitlements ?? {})) {
      if (ent.kind !== "metered" || ent.scope === "customer") continue;
      const owner = accountFor(policy, c.id, ent);
      const key = poolKey(owner, ent.id);
      const list = pools.get(key) ?? [owner];
      if (!list.includes(c.id)) list.push(c.id);
      pools.set(key, list);
    }
  }
  return pools;
}

/**
 * The usage lines of one plan segment under one policy, appended to `lines`;
 * returns the provider cost of metered entitlements that produced no line.
 */
export function rateUsage(
  pricing: CustomerPricing,
  customer: string,
  seg: Segment,
  note: string,
  rounding: { round: (d: Decimal) => Decimal; roundCost: (d: Decimal) => Decimal },
  lines: InvoiceLine[],
): Decimal {
  const { round, roundCost } = rounding;
  const { policy, contract, lookup } = pricing;
  const zone = policy.timezone;
  // Usage is rated under the stack in force: the base plan with its add-ons' entitlements stacked on it.
  const plan = stackedPlan(policy.plans, seg.plan, seg.addOns);
  let hiddenCost = ZERO;
  if (!plan) return hiddenCost;
  const costed = new Set<string>();
  for (const ent of Object.values(plan.entitlements)) {
    if (ent.kind !== "metered") continue;
    if (accountFor(policy, customer, ent) !== customer) continue;
    const unit = policy.creditUnits?.[ent.meter];
    const meter = policy.meters[ent.meter] ?? (unit ? unitMeter(unit) : undefined);
    if (!meter) continue;
    const members = pricing.pools.get(poolKey(customer, ent.id)) ?? [customer];
    const price = priceFor(ent, contract, seg, zone);
    let quantity = ZERO;
    let amount = ZERO;
    const byDim = new Map<string, Decimal>();
    let unitPrice: DecimalString | null = null;
    const details: string[] = [];
    for (const w of ratingWindows(ent, seg, zone)) {
      const firstEvents =
        price?.model === "percentage" && price.freeEvents > 0 ? price.freeEvents : undefined;
      const window = {
        account: customer,
        members,
        meter: meter.id,
        start: w.start,
        end: w.end,
        ...(firstEvents ? { firstEvents } : {}),
      };
      const u = unit ? creditUsage(policy, unit, window, lookup) : lookup(window);
      quantity = quantity.plus(u.quantity);
      for (const [k, v] of u.byDim) byDim.set(k, (byDim.get(k) ?? ZERO).plus(v));
      if (!price) continue;
      const c = rateCharge(price, {
        quantity: u.quantity,
        events: u.events,
        freeEventsQuantity: u.firstEventsQuantity,
      });
      amount = amount.plus(c.amount);
      unitPrice = c.unitPrice;
      details.push(c.detail);
    }
    const cost = costed.has(meter.id) ? ZERO : roundCost(meterCost(meter, byDim));
    costed.add(meter.id);
    if (!price || (quantity.isZero() && amount.isZero())) {
      hiddenCost = hiddenCost.plus(cost);
      continue;
    }
    const label = meter.description ?? meter.id;
    const detail = details.length === 1 ? details[0] : `${details.length} ${ent.period} windows`;
    lines.push({
      kind: "usage",
      description: `${label}${note}: ${detail}`,
      entitlement: ent.id,
      meter: meter.id,
      quantity: decStr(quantity),
      unitPrice,
      amount: round(amount),
      cost,
      group: `${label}${note}`,
    });
  }
  return hiddenCost;
}

/** `Pro 2026-10-01 to 2026-10-14`, or with exact instants and the policy: `Pro, policy v2, 2026-10-15 14:30 to 2026-10-31`. */
export function segmentNote(pricing: CustomerPricing, seg: Segment, zone: string): string {
  // "Pro" or "Pro + Extra tokens + GPU pack": what the line was rated under.
  const name = [seg.plan, ...seg.addOns].map((id) => pricing.policy.plans[id]?.name ?? id).join(" + ");
  const from = dayOrInstant(seg.start, zone);
  const to = isDayStart(seg.end, zone) ? isoDate(seg.end - 1, zone) : `${formatLocal(seg.end, zone)} (excl.)`;
  return `${name}${pricing.label ? `, ${pricing.label},` : ""} ${from} to ${to}`;
}

function isDayStart(ms: number, zone: string): boolean {
  return startOfDate(isoDate(ms, zone), zone) === ms;
}

function dayOrInstant(ms: number, zone: string): string {
  return isDayStart(ms, zone) ? isoDate(ms, zone) : formatLocal(ms, zone);
}

/** `2026-10-15 14:30:05` in the policy timezone. */
function formatLocal(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd HH:mm:ss");
}

/** A contract override's price applies while it has not expired (expiry day inclusive). */
function priceFor(
  ent: MeteredEntitlement,
  contract: CompiledCustomer | null,
  seg: Segment,
  zone: string,
): ChargeModel | null {
  const o = contract?.overrides[ent.id];
  if (o && o.price !== undefined && (o.expires === null || seg.start < endOfDate(o.expires, zone)))
    return o.price;
  return ent.price;
}

/**
 * Windows whose usage is rated separately: an entitlement with a daily or
 * weekly (or hourly, rated per day) period restarts its tiers each window;
 * longer periods are rated over the segment (their part of the billed period).
 */
function ratingWindows(ent: MeteredEntitlement, seg: Segment, zone: string): Window[] {
  if (ent.period !== "hour" && ent.period !== "day" && ent.period !== "week") return [seg];
  const unit = ent.period === "week" ? "week" : "day";
  const out: Window[] = [];
  for (let t = seg.start; t < seg.end; ) {
    const w = calendarWindow(unit, t, zone);
    out.push({ start: Math.max(w.start, seg.start), end: Math.min(w.end, seg.end) });
    t = w.end;
  }
  return out;
}
