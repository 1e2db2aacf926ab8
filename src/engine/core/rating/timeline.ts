import { DateTime } from "luxon";
import { addOnSet, stackKey } from "../add-ons.js";
import type { CompiledPlan, IsoDate } from "../model.js";
import { type Decimal, dec, ZERO } from "../money.js";
import { billingWindow, isoDate, startOfDate, type Window, wholeDays } from "../periods.js";

/**
 * A customer's plan over time, and the recurring fees it implies (R11).
 *
 * A plan change takes effect at the start of its day in the policy timezone:
 * the change day belongs to the new plan, for the fee and for usage alike.
 */
export interface PlanChange {
  /** Start of the day (policy timezone) the plan takes effect, epoch ms. */
  at: number;
  plan: string;
  /** Add-on plans held with `plan` (SPEC §15), sorted; absent = none. */
  addOns?: readonly string[];
  /**
   * The default plan of a customer the store does not (yet) know (R1): its
   * usage is rated, but no recurring fee is billed, as no subscription exists.
   */
  implicit?: boolean;
}

export interface Segment extends Window {
  plan: string;
  /** Add-ons held during the segment, sorted (none on fee segments, see `feeSegments`). */
  addOns: readonly string[];
  implicit: boolean;
  /** The segment starts at a plan change inside the billed period (not at the period start). */
  startsAtChange: boolean;
  /** The segment ends at a plan change inside the billed period. */
  endsAtChange: boolean;
  /** Why the segment starts or ends mid-window, for fee descriptions (default: a plan change). */
  startWhy?: string;
  endWhy?: string;
}

/** What `feeTimeline` needs of a policy's share of the period (see `CustomerPricing`). */
export interface FeePricing {
  policy: { plans: Record<string, CompiledPlan> };
  start: number;
  end: number;
  changes: PlanChange[];
  label: string | null;
}

export interface FeeTimeline {
  /** Segments whose `plan` is a key of `plans` (the plan as one policy defines it). */
  segments: Segment[];
  plans: Record<string, CompiledPlan>;
  /** The plan id behind a segment's key. */
  planOf(key: string | undefined): string | null;
}

/**
 * The fee-bearing plan segments of a period priced by one or more policies in
 * turn. A policy's share starts at the start of the day it became active (the
 * day belongs to the new version, as a plan change's day belongs to the new
 * plan, R11). Where a version changes nothing a fee depends on (price,
 * interval, anchor, trial, minimum), the segment just continues; otherwise the
 * switch is prorated like a plan change.
 */
export function feeTimeline(period: Window, pricings: FeePricing[], zone: string): FeeTimeline {
  const plans: Record<string, CompiledPlan> = {};
  const segments: Segment[] = [];
  const single = pricings.length === 1;
  const dayOf = (ms: number) => (ms <= period.start ? period.start : startOfDate(isoDate(ms, zone), zone));
  for (const [i, pricing] of pricings.entries()) {
    const start = dayOf(pricing.start);
    const end = i === pricings.length - 1 ? period.end : dayOf(pricings[i + 1]?.start ?? period.end);
    if (start >= end) continue;
    // The base plan's segments, then each add-on's (each prorated on its own changes, R11).
    for (const seg of feeSegments(pricing.changes, { start, end })) {
      const plan = pricing.policy.plans[seg.plan];
      const key = single ? seg.plan : `${i}\u0000${seg.plan}`;
      if (plan) plans[key] = plan;
      // The segment this one continues across a version boundary: the same track (base, or that add-on).
      const track = (id: string) => (pricing.policy.plans[id]?.addOn ? id : "");
      const prev = segments.findLast(
        (s) => s.end === seg.start && track(plans[s.plan]?.id ?? s.plan) === track(seg.plan),
      );
      const prevPlan = prev ? plans[prev.plan] : undefined;
      if (prev && prev.end === seg.start && seg.start === start && i > 0) {
        // A version boundary, not a plan change.
        if (prevPlan?.id === seg.plan && prev.implicit === seg.implicit && sameFeeTerms(prevPlan, plan)) {
          prev.end = seg.end;
          continue;
        }
        const why = pricing.label ?? "a new policy version";
        prev.endWhy = `unused after ${why}`;
        segments.push({ ...seg, plan: key, startWhy: `from ${why}` });
        continue;
      }
      segments.push({ ...seg, plan: key });
    }
  }
  for (const seg of segments) {
    seg.startsAtChange = seg.start > period.start;
    seg.endsAtChange = seg.end < period.end;
  }
  return { segments, plans, planOf: (key) => (key === undefined ? null : (plans[key]?.id ?? key)) };
}

function sameFeeTerms(a: CompiledPlan | undefined, b: CompiledPlan | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.price === b.price &&
    a.interval === b.interval &&
    JSON.stringify(a.anchor) === JSON.stringify(b.anchor) &&
    a.trialDays === b.trialDays &&
    a.minimum === b.minimum
  );
}

/** Normalise raw history (any instants) to day starts; the last change recorded for a day wins. */
export function dayAlignedChanges(
  history: { at: number; plan: string; addOns?: readonly string[] }[],
  zone: string,
): PlanChange[] {
  const byDay = new Map<number, { plan: string; addOns: string[] }>();
  for (const h of [...history].sort((a, b) => a.at - b.at))
    byDay.set(startOfDate(isoDate(h.at, zone), zone), { plan: h.plan, addOns: addOnSet(h.addOns) });
  const out: PlanChange[] = [];
  for (const [at, { plan, addOns }] of [...byDay.entries()].sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last && stackKey(last.plan, last.addOns) === stackKey(plan, addOns)) continue;
    out.push(addOns.length > 0 ? { at, plan, addOns } : { at, plan });
  }
  return out;
}

/** The plans in force during `period`, clipped to it. Before the first change the customer has no plan. */
export function segmentsIn(changes: PlanChange[], period: Window): Segment[] {
  const out: Segment[] = [];
  for (const [i, c] of changes.entries()) {
    const next = changes[i + 1]?.at ?? Number.POSITIVE_INFINITY;
    const start = Math.max(c.at, period.start);
    const end = Math.min(next, period.end);
    if (start >= end) continue;
    out.push({
      plan: c.plan,
      addOns: c.addOns ?? [],
      implicit: c.implicit ?? false,
      start,
      end,
      startsAtChange: c.at > period.start,
      endsAtChange: next < period.end,
    });
  }
  return out;
}

/**
 * The segments recurring fees are billed over: the base plan's (a change of
 * add-ons alone is no plan change), and each add-on's, from the day it is
 * added to the day it is removed. Each is prorated like a plan (R11).
 */
export function feeSegments(changes: PlanChange[], period: Window): Segment[] {
  const spans = (held: (c: PlanChange) => string | null): PlanChange[] => {
    const out: PlanChange[] = [];
    for (const c of changes) {
      const plan = held(c) ?? "";
      const last = out[out.length - 1];
      if (last?.plan === plan && (last.implicit ?? false) === (c.implicit ?? false)) continue;
      out.push({ at: c.at, plan, ...(c.implicit ? { implicit: true } : {}) });
    }
    return out;
  };
  const base = segmentsIn(
    spans((c) => c.plan),
    period,
  );
  const ids = [...new Set(changes.flatMap((c) => c.addOns ?? []))].sort();
  const addOns = ids.flatMap((id) =>
    segmentsIn(
      spans((c) => (c.addOns?.includes(id) ? id : null)),
      period,
    ).filter((s) => s.plan !== ""),
  );
  return [...base, ...addOns];
}

export interface FeeLine {
  kind: "subscription" | "proration";
  plan: string;
  amount: Decimal;
  description: string;
  /** The days the line covers, for the description and for tests. */
  days: number;
  ofDays: number;
}

export interface FeeContext {
  zone: string;
  /** Anniversary origin (contract `since` or first subscription day). */
  since: IsoDate | null;
  /** First day of the customer's trial on each plan, if it has one. */
  trialStart: (plan: string) => number | null;
}

/**
 * Recurring fees billed in advance: the full fee of every billing window that
 * starts inside the billed period, a prorated charge for the rest of the
 * window a mid-window plan change starts in, and a prorated credit for the
 * unused rest of the window the old plan was paid for. Trial days are free.
 */
export function feeLines(
  segments: Segment[],
  plans: Record<string, CompiledPlan>,
  period: Window,
  ctx: FeeContext,
): FeeLine[] {
  const out: FeeLine[] = [];
  for (const seg of segments) {
    const plan = plans[seg.plan];
    if (!plan || seg.implicit || dec(plan.price).isZero()) continue;
    const trialEnd = trialEndOf(plan, ctx);
    const windowAt = (ms: number) => billingWindow(plan.interval, plan.anchor, ctx.since, ms, ctx.zone);
    let w = windowAt(seg.start);
    if (w.start < seg.start && seg.startsAtChange) {
      const from = Math.max(seg.start, trialEnd);
      if (from < w.end)
        out.push(
          fee(
            "proration",
            plan,
            from,
            w,
            ctx.zone,
            seg.startWhy ?? (plan.addOn ? "from add-on start" : "from plan change"),
          ),
        );
    }
    for (; w.start < seg.end; w = windowAt(w.end)) {
      if (w.start < seg.start || w.start < period.start) continue;
      const from = Math.max(w.start, trialEnd);
      if (from < w.end)
        out.push(fee(from === w.start ? "subscription" : "proration", plan, from, w, ctx.zone, ""));
    }
    if (seg.endsAtChange) {
      const last = windowAt(seg.end - 1);
      const from = Math.max(seg.end, trialEnd);
      if (from < last.end) {
        const why = seg.endWhy ?? (plan.addOn ? "unused after add-on end" : "unused after plan change");
        const credit = fee("proration", plan, from, last, ctx.zone, why);
        out.push({ ...credit, amount: credit.amount.negated() });
      }
    }
  }
  return out;
}

const EVERY = { day: "daily", week: "weekly", month: "monthly", year: "yearly" } as const;

function trialEndOf(plan: CompiledPlan, ctx: FeeContext): number {
  const start = ctx.trialStart(plan.id);
  if (plan.trialDays <= 0 || start === null) return Number.NEGATIVE_INFINITY;
  return DateTime.fromMillis(start, { zone: ctx.zone })
    .startOf("day")
    .plus({ days: plan.trialDays })
    .toMillis();
}

function fee(
  kind: FeeLine["kind"],
  plan: CompiledPlan,
  from: number,
  w: Window,
  zone: string,
  why: string,
): FeeLine {
  const days = wholeDays(from, w.end, zone);
  const ofDays = wholeDays(w.start, w.end, zone);
  const full = from === w.start;
  const amount = full ? dec(plan.price) : dec(plan.price).times(days).div(ofDays);
  const range = `${isoDate(from, zone)} to ${isoDate(w.end - 1, zone)}`;
  const name = plan.addOn ? `Add-on ${plan.name}` : plan.name;
  const description = full
    ? `${name} ${EVERY[plan.interval]} fee (${range})`
    : `${name} ${EVERY[plan.interval]} fee, ${days}/${ofDays} days (${range}${why ? `, ${why}` : ""})`;
  return { kind, plan: plan.id, amount: amount.isZero() ? ZERO : amount, description, days, ofDays };
}
