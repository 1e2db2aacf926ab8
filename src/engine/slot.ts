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
  /** Where this slot is in its policy's `SlotTable` (0: the scratch entry of an uncached answer). */
  sid = 0;
  /** The call that marked this slot for the live alert rules (see `SlotTable.alertMark`). */
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

// Layout of a slot's record in `SlotTable.info`: what every decision reads before it reaches the counter.
/** The counter id (see `CounterTable`); -1 when not metered. */
export const CID = 0;
export const FLAGS = 1;
export const SLOT_STRIDE = 2;

/** FLAGS bits. */
export const METERED = 1;
/** Hard mode with a finite limit: `SlotTable.limit` is read. */
export const HARD = 2;
export const TIME_BOUND = 4;
/** A rate governor applies (its bucket is on the Slot object). */
export const RATE = 8;

/**
 * The slots resolved under one policy, by dense slot id: what a decision
 * needs in typed arrays (8 bytes a slot on every call, 8 more for a hard
 * limit), the `Slot` objects beside them for everything else. The lookup
 * maps hold slot ids, not objects, so a call reads the map entry, one slot
 * record and one counter record and follows no pointer. Slot 0 is scratch:
 * answers that are not cached (ids no plan defines) are built there.
 */
export class SlotTable {
  length = 1;
  info = new Int32Array(1024 * SLOT_STRIDE);
  /** Infinity when unlimited. */
  limit = new Float64Array(1024);
  /** Usage from which threshold/overage bookkeeping runs (see `Slot.notifyFrom`). */
  notifyFrom = new Float64Array(1024);
  /** 1 = counted since the live alert rules last looked at it (LiveAlerts clears it). */
  alertMark = new Uint8Array(1024);
  readonly slots: Slot[] = [];

  /** Store `slot` at `sid` (a new id when -1) and return the id. */
  put(sid: number, slot: Slot): number {
    let id = sid;
    if (id < 0) {
      id = this.length++;
      if (id === this.alertMark.length) this.grow();
    }
    slot.sid = id;
    this.slots[id] = slot;
    const at = id * SLOT_STRIDE;
    this.info[at + CID] = slot.counter === null ? -1 : slot.counter.id;
    this.info[at + FLAGS] =
      (slot.reason === null && slot.counter !== null ? METERED : 0) |
      (slot.hard ? HARD : 0) |
      (slot.timeBound ? TIME_BOUND : 0) |
      (slot.bucket !== null ? RATE : 0);
    this.limit[id] = slot.limit;
    this.notifyFrom[id] = slot.notifyFrom;
    return id;
  }

  /** Forget every slot (plan history changed); ids start over. */
  reset(): void {
    this.length = 1;
    this.slots.length = 0;
    this.alertMark.fill(0);
  }

  private grow(): void {
    const n = this.alertMark.length * 2;
    const info = new Int32Array(n * SLOT_STRIDE);
    info.set(this.info);
    this.info = info;
    const limit = new Float64Array(n);
    limit.set(this.limit);
    this.limit = limit;
    const notifyFrom = new Float64Array(n);
    notifyFrom.set(this.notifyFrom);
    this.notifyFrom = notifyFrom;
    const marks = new Uint8Array(n);
    marks.set(this.alertMark);
    this.alertMark = marks;
  }
}
