import { type Counter, THRESHOLDS } from "../core/engine/counter.js";
import type { Reason } from "../core/engine/decision.js";
import type { EffectiveEntitlement } from "../core/engine/resolve.js";
import type { TokenBucket } from "../core/engine/token-bucket.js";
import type { PropertyValue } from "../core/model.js";
import { filterDefaults } from "../core/usage/meters.js";
import type { EventSource } from "./write-behind.js";

/**
 * One customer's view of one entitlement, resolved once and cached until
 * `validUntil` (a plan change or an override's expiry). Everything the
 * decision path needs is a field here: no lookups, no string building.
 */
export class Slot implements EventSource {
  /** Hard mode with a finite limit: the only case that can deny on quantity. */
  readonly hard: boolean;
  /** Infinity when unlimited. */
  readonly limit: number;
  /** Usage from which threshold/overage bookkeeping runs (the lowest threshold); Infinity when unlimited. */
  readonly notifyFrom: number;
  /** Event type stored for a counted call: the meter's first event type. */
  readonly eventType: string;
  /** The meter's value property, filled in on stored events so raters read the amount. */
  readonly valueProp: string | null;
  /** Properties the meter's `where` filter needs, filled in on stored events when the call leaves them out. */
  readonly filterProps: Record<string, PropertyValue> | null;
  readonly validFrom: number;
  readonly validUntil: number;
  /** Plan history or an override bounds the answer in time (most slots hold forever: skip the comparisons). */
  readonly timeBound: boolean;
  /** Counted since the live alert rules last looked at it, and the time of the call that marked it. */
  alertPending = false;
  alertAt = 0;
  /** The live alert rules' view of this slot, built on first evaluation (see LiveAlerts). */
  alertView: unknown = null;

  constructor(
    readonly customer: string,
    readonly entitlement: string,
    /** null = metered; otherwise the fixed answer for this entitlement (flags, unknowns). */
    readonly reason: Reason | null,
    readonly eff: EffectiveEntitlement,
    readonly counter: Counter | null,
    /** The burst governor of this customer and entitlement; null when none (or in observe mode: it never denies). */
    readonly bucket: TokenBucket | null,
  ) {
    this.limit = eff.limit;
    this.notifyFrom = eff.limit === Infinity ? Infinity : (eff.limit * THRESHOLDS[0]) / 100;
    this.hard = eff.mode === "hard" && eff.limit !== Infinity;
    this.eventType = eff.meter?.events[0] ?? entitlement;
    this.valueProp = eff.meter && eff.meter.aggregation !== "count" ? eff.meter.property : null;
    this.filterProps = eff.meter ? filterDefaults(eff.meter) : null;
    this.validFrom = eff.validFrom;
    this.validUntil = eff.validUntil;
    this.timeBound = eff.validFrom !== -Infinity || eff.validUntil !== Infinity;
  }
}
