import type { Window } from "../periods.js";
import type { Hold } from "./decision.js";
import type { CounterRow, CounterState } from "./store-port.js";

/** Threshold percentages reported by the `threshold` event, once each per counter and period. */
export const THRESHOLDS = [50, 80, 100] as const;

/**
 * `due` in whole seconds since 2020, floored and clamped to the small-integer
 * range. V8 keeps a small integer inside the object but a double in a separate
 * heap box: the decision path compares against this field to stay on one
 * cache line, and confirms with the exact `periodEnd`/`nextExpiry` when it fires.
 */
export const DUE_EPOCH = 1_577_836_800_000; // 2020-01-01T00:00:00Z
const DUE_MAX = 2 ** 30 - 1;

function dueSeconds(due: number): number {
  const s = Math.floor((due - DUE_EPOCH) / 1000);
  return Math.min(DUE_MAX, Math.max(-DUE_MAX, s));
}

/**
 * The live state of one counter: one owner (the scope's customer) and one
 * entitlement. Mutable on purpose: the decision path updates it in place.
 * `periodEnd` is the only thing a call compares against to notice a reset (R6).
 */
export class Counter implements CounterState {
  used = 0;
  held = 0;
  events = 0;
  periodStart: number;
  periodEnd: number;
  /** Bit i set = THRESHOLDS[i] already reported this period. */
  fired = 0;
  /** The period's first overage has been reported. */
  overaged = false;
  /** Write-behind bookkeeping: the flush generation this counter is queued in (0 = none). */
  flushGen = 0;
  /** Active reservations, and the earliest instant one of them expires. */
  readonly holds: Hold[] = [];
  nextExpiry = Infinity;
  /** min(periodEnd, nextExpiry) as `dueSeconds`: a call with now < DUE_EPOCH + dueS * 1000 has nothing due. */
  dueS: number;
  /** Values already counted this period by a `unique_count` meter (in memory only). */
  uniques: Set<string> | null = null;
  /**
   * The row an in-process store keeps for this counter, once it has one: the
   * store updates it in place at each flush instead of looking it up by key.
   */
  storeRow: CounterRow | null = null;

  constructor(
    readonly key: string,
    readonly owner: string,
    readonly entitlement: string,
    window: Window,
  ) {
    this.periodStart = window.start;
    this.periodEnd = window.end;
    this.dueS = dueSeconds(window.end);
  }

  /** Move to the period `window`; a different period starts from zero (holds carry over: they are not usage). */
  enter(window: Window): void {
    if (window.start !== this.periodStart) {
      this.used = 0;
      this.events = 0;
      this.fired = 0;
      this.overaged = false;
      this.uniques = null;
      this.periodStart = window.start;
    }
    this.periodEnd = window.end;
    this.dueS = dueSeconds(Math.min(this.periodEnd, this.nextExpiry));
  }

  /** Add `amount` (negative = refund), never going below zero (R5). Returns the change applied. */
  add(amount: number): number {
    const before = this.used;
    const after = before + amount;
    this.used = Math.max(after, 0);
    if (amount > 0) this.events++;
    return this.used - before;
  }

  addHold(hold: Hold): void {
    this.holds.push(hold);
    this.held += hold.amount;
    if (hold.expiresAt < this.nextExpiry) this.nextExpiry = hold.expiresAt;
    this.dueS = dueSeconds(Math.min(this.periodEnd, this.nextExpiry));
  }

  /** Remove a hold by id; returns it, or null if it is not active here. */
  removeHold(id: string): Hold | null {
    const i = this.holds.findIndex((h) => h.id === id);
    if (i < 0) return null;
    const [hold] = this.holds.splice(i, 1) as [Hold];
    this.recomputeHeld();
    return hold;
  }

  /** Free every hold expired at `now` (R8) and return them. */
  expire(now: number): Hold[] {
    const expired: Hold[] = [];
    for (let i = this.holds.length - 1; i >= 0; i--) {
      const h = this.holds[i] as Hold;
      if (h.expiresAt <= now) {
        expired.push(h);
        this.holds.splice(i, 1);
      }
    }
    this.recomputeHeld();
    return expired;
  }

  private recomputeHeld(): void {
    let held = 0;
    let next = Infinity;
    for (const h of this.holds) {
      held += h.amount;
      if (h.expiresAt < next) next = h.expiresAt;
    }
    this.held = held;
    this.nextExpiry = next;
    this.dueS = dueSeconds(Math.min(this.periodEnd, next));
  }
}
