import type { Window } from "../periods.js";
import type { Hold } from "./decision.js";
import type { Gauge } from "./gauge.js";
import type { PeriodClock } from "./period-clock.js";
import { resized } from "./typed-arrays.js";

/** Threshold percentages reported by the `threshold` event, once each per counter and period. */
export const THRESHOLDS = [50, 80, 100] as const;

/**
 * Layout of a counter's hot record in `CounterTable.rec`: the four numbers a
 * decision reads, side by side (32 bytes), so one call touches one cache line
 * of counter state however many counters the engine holds.
 */
export const USED = 0;
export const HELD = 1;
/** min(periodEnd, nextExpiry): a call at or after it has a reset or an expiry to apply first. */
export const DUE = 2;
export const EVENTS = 3;
export const STRIDE = 4;

/**
 * Layout of a counter's lease record in `CounterTable.lease` (32 bytes, on
 * shared counters only, SPEC §11): what a call on a hard limit decided from a
 * lease (`LeaseBook`) reads and writes, so that such a call reads one more
 * record than a call on a local limit, not the book's columns.
 *
 * Units a call may spend from the lease this engine holds on the counter's
 * shared pool (0 without one). Set to zero whenever the period start moves, so
 * it never serves a period other than the lease's.
 */
export const LEASE = 0;
/** The lease is refilled once `LEASE` falls to this (the low-water mark; -1: not before it runs out). */
export const LOW = 1;
/** Units spent from the lease since the last call that reported them to the pool. */
export const UNREPORTED = 2;
export const LEASE_STRIDE = 4;

const INITIAL = 1024;

/**
 * The live state of every counter, column-wise: numbers in typed arrays
 * indexed by counter id, the rest (key, holds, unique values) on a `Counter`
 * object the decision path never touches. Counter ids are dense and never
 * reused for the engine's life.
 */
export class CounterTable {
  length = 0;
  /** STRIDE numbers per counter: used, held, due, events. */
  rec = new Float64Array(INITIAL * STRIDE);
  /** LEASE_STRIDE numbers per counter once `useLeases` was called (shared counters), else empty. */
  lease = new Float64Array(0);
  periodStart = new Float64Array(INITIAL);
  periodEnd = new Float64Array(INITIAL);
  nextExpiry = new Float64Array(INITIAL);
  /**
   * Write-behind bookkeeping: 1 = the counter is queued for the next flush. One
   * byte a counter, so the flag of every counter stays in cache (see WriteBehind.markDirty).
   */
  queued = new Uint8Array(INITIAL);
  readonly counters: Counter[] = [];

  add(key: string, owner: string, entitlement: string, window: Window): Counter {
    const id = this.length++;
    if (id === this.periodStart.length) this.grow();
    const c = new Counter(this, id, key, owner, entitlement);
    this.counters.push(c);
    this.periodStart[id] = window.start;
    this.periodEnd[id] = window.end;
    this.nextExpiry[id] = Infinity;
    this.rec[id * STRIDE + DUE] = window.end;
    return c;
  }

  /** Keep a lease record per counter (see LEASE). */
  useLeases(): void {
    if (this.lease.length === 0) this.lease = new Float64Array(this.periodStart.length * LEASE_STRIDE);
  }

  /** A counter's period start moved: its lease (of the old period) serves no call. */
  leaseEnds(id: number): void {
    if (this.lease.length > 0) this.lease[id * LEASE_STRIDE + LEASE] = 0;
  }

  private grow(): void {
    const n = this.periodStart.length * 2;
    this.rec = resized(this.rec, n * STRIDE);
    if (this.lease.length > 0) this.lease = resized(this.lease, n * LEASE_STRIDE);
    this.periodStart = resized(this.periodStart, n);
    this.periodEnd = resized(this.periodEnd, n);
    this.nextExpiry = resized(this.nextExpiry, n);
    this.queued = resized(this.queued, n);
  }
}

/**
 * One counter: one owner (the scope's customer) and one entitlement. Its
 * numbers live in the table (see `CounterTable`); this object is the handle
 * the rest of the engine works with, and holds what is not a number.
 * `periodEnd` is the only thing a call compares against to notice a reset (R6).
 */
export class Counter {
  /** Bit i set = THRESHOLDS[i] already reported this period. */
  fired = 0;
  /** The period's first overage has been reported. */
  overaged = false;
  /** Active reservations. */
  readonly holds: Hold[] = [];
  /** Values already counted this period by a `unique_count` meter (in memory only). */
  uniques: Set<string> | null = null;
  /** Interval (`first_use`) and sliding periods keep time here; null for calendar periods. */
  clock: PeriodClock | null = null;
  /** The reading a `time_weighted` meter's counter holds; null for other meters. */
  gauge: Gauge | null = null;

  constructor(
    readonly table: CounterTable,
    readonly id: number,
    readonly key: string,
    readonly owner: string,
    readonly entitlement: string,
  ) {}

  get used(): number {
    return this.table.rec[this.id * STRIDE + USED] as number;
  }
  set used(v: number) {
    this.table.rec[this.id * STRIDE + USED] = v;
  }
  get held(): number {
    return this.table.rec[this.id * STRIDE + HELD] as number;
  }
  get events(): number {
    return this.table.rec[this.id * STRIDE + EVENTS] as number;
  }
  set events(v: number) {
    this.table.rec[this.id * STRIDE + EVENTS] = v;
  }
  get periodStart(): number {
    return this.table.periodStart[this.id] as number;
  }
  get periodEnd(): number {
    return this.table.periodEnd[this.id] as number;
  }
  get nextExpiry(): number {
    return this.table.nextExpiry[this.id] as number;
  }

  /** Move to the period `window`; a different period starts from zero (holds carry over: they are not usage). */
  enter(window: Window): void {
    const t = this.table;
    if (window.start !== t.periodStart[this.id]) {
      t.rec[this.id * STRIDE + USED] = 0;
      t.rec[this.id * STRIDE + EVENTS] = 0;
      t.leaseEnds(this.id);
      this.fired = 0;
      this.overaged = false;
      this.uniques = null;
      t.periodStart[this.id] = window.start;
    }
    t.periodEnd[this.id] = window.end;
    this.refreshDue();
  }

  /** What the period and the gauge keep beside the numbers, to persist (null when nothing). */
  periodState(): string | null {
    if (this.clock === null && this.gauge === null) return null;
    return `${this.clock?.serialize() ?? ""}\n${this.gauge?.serialize() ?? ""}`;
  }

  /** Load what `periodState` wrote. */
  loadPeriodState(text: string): void {
    const [clock, gauge] = text.split("\n");
    if (clock && this.clock !== null) this.clock.load(clock);
    if (gauge && this.gauge !== null) this.gauge.load(gauge);
  }

  /** Set the period's bounds without a reset (a `first_use` anchor fixed, a sliding window moved on). */
  move(window: Window): void {
    if (window.start !== this.table.periodStart[this.id]) this.table.leaseEnds(this.id);
    this.table.periodStart[this.id] = window.start;
    this.table.periodEnd[this.id] = window.end;
    this.refreshDue();
  }

  /** Report thresholds and overage again, as at the start of a period. */
  rearm(): void {
    this.fired = 0;
    this.overaged = false;
  }

  /** Add `amount` (negative = refund), never going below zero (R5). Returns the change applied. */
  add(amount: number): number {
    const rec = this.table.rec;
    const at = this.id * STRIDE;
    const before = rec[at + USED] as number;
    const after = Math.max(before + amount, 0);
    rec[at + USED] = after;
    if (amount > 0) rec[at + EVENTS] = (rec[at + EVENTS] as number) + 1;
    return after - before;
  }

  /** Forget the period's usage and every hold (before reloading them from the store); the window stays. */
  clear(): void {
    const rec = this.table.rec;
    rec[this.id * STRIDE + USED] = 0;
    rec[this.id * STRIDE + EVENTS] = 0;
    this.fired = 0;
    this.overaged = false;
    this.uniques = null;
    this.clock?.reset();
    this.gauge?.reset();
    this.holds.length = 0;
    this.recomputeHeld();
  }

  addHold(hold: Hold): void {
    this.holds.push(hold);
    this.recomputeHeld();
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
    this.table.rec[this.id * STRIDE + HELD] = held;
    this.table.nextExpiry[this.id] = next;
    this.refreshDue();
  }

  private refreshDue(): void {
    const t = this.table;
    t.rec[this.id * STRIDE + DUE] = Math.min(t.periodEnd[this.id] as number, t.nextExpiry[this.id] as number);
  }
}
