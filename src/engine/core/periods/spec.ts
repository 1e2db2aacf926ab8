import type {
  Anchor,
  Interval,
  IntervalPeriod,
  IsoDate,
  PeriodSpec,
  PeriodUnit,
  SlidingPeriod,
} from "../model.js";
import { periodWindow, startOfDate, type Window } from "../periods.js";
import { durationMs } from "./duration.js";
import { intervalWindow } from "./interval.js";

/**
 * An entitlement's `period` as the policy gives it (a calendar unit, or
 * `{ every, anchor }`, or `{ sliding }`) compiled to the model. The default
 * anchor is `subscription`: it needs no state to know where periods start.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-validated YAML data
export function compilePeriod(raw: any): PeriodSpec {
  if (raw === undefined || raw === null) return "month";
  if (typeof raw === "string") return raw as PeriodUnit;
  if (raw.sliding !== undefined) return { sliding: raw.sliding, slidingMs: durationMs(raw.sliding) };
  return { every: raw.every, everyMs: durationMs(raw.every), anchor: raw.anchor ?? "subscription" };
}

export function isSliding(p: PeriodSpec): p is SlidingPeriod {
  return typeof p === "object" && "sliding" in p;
}

export function isInterval(p: PeriodSpec): p is IntervalPeriod {
  return typeof p === "object" && "every" in p;
}

/** Text for messages and invoice lines: `month`, `every P30D`, `sliding PT24H`. */
export function periodLabel(p: PeriodSpec): string {
  if (typeof p === "string") return p;
  return isSliding(p) ? `sliding ${p.sliding}` : `every ${p.every}`;
}

/**
 * Where a `subscription` interval counts from: the start of the customer's
 * current plan (plan history), else the contract's `since` day, else the
 * epoch (a customer known only by the default plan).
 */
export function subscriptionAnchor(planFrom: number, since: IsoDate | null, zone: string): number {
  if (Number.isFinite(planFrom)) return planFrom;
  return since === null ? 0 : startOfDate(since, zone);
}

export interface PeriodContext {
  zone: string;
  billing: { interval: Interval; anchor: Anchor; since: IsoDate | null };
  /** Start of the plan in force (-Infinity when no plan change is recorded). */
  planFrom: number;
  /** A `first_use` counter's anchor; NaN before its first counted use. */
  firstUse: number;
}

/**
 * The window of any period containing `ms`. A `first_use` interval not yet
 * anchored floats: it would start now. A sliding window is the `windowMs`
 * ending at `ms` (inclusive), for views that read it from stored events.
 */
export function specWindow(p: PeriodSpec, ms: number, ctx: PeriodContext): Window {
  if (typeof p === "string") return periodWindow(p, ms, ctx.zone, ctx.billing);
  if (isSliding(p)) return { start: ms - p.slidingMs + 1, end: ms + 1 };
  const anchor =
    p.anchor === "subscription"
      ? subscriptionAnchor(ctx.planFrom, ctx.billing.since, ctx.zone)
      : Number.isNaN(ctx.firstUse)
        ? ms
        : ctx.firstUse;
  return intervalWindow(anchor, p.everyMs, ms);
}
