import { type Counter, THRESHOLDS } from "../core/engine/counter.js";
import type { Reason } from "../core/engine/decision.js";
import type { EffectiveEntitlement } from "../core/engine/resolve.js";
import type { TokenBucket } from "../core/engine/token-bucket.js";
import { resized } from "../core/engine/typed-arrays.js";
import type { PropertyValue } from "../core/model.js";
import { filterDefaults } from "../core/usage/meters.js";
import type { WalletAccount } from "../core/wallet/account.js";
import type { WalletPricer } from "../core/wallet/quantity.js";
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
  /** Counters of the spend caps this slot's calls count toward (see SpendCaps), found on first use. */
  capCounters: Counter[] | null = null;
  /** The live alert rules' view of this slot, built on first evaluation (see LiveAlerts). */
  alertView: unknown = null;
  /** `mode: prepaid`: the customer's wallet (null when it has none: every call is refused) and its pricing. */
  wallet: WalletAccount | null = null;
  pricer: WalletPricer | null = null;

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
    this.hard = (eff.mode === "hard" || eff.mode === "prepaid") && eff.limit !== Infinity;
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
/** `mode: prepaid`: the wallet's index in the engine's `WalletLanes` (-1: no wallet). */
export const WALLET = 2;
/** `mode: prepaid`: where the atoms a whole unit costs are in `SlotTable.unitAtoms` (0: NaN, a call must be priced). */
export const UNIT = 3;
export const SLOT_STRIDE = 4;

/** FLAGS bits. */
export const METERED = 1;
/** Hard mode with a finite limit: `SlotTable.limit` is read. */
export const HARD = 2;
export const TIME_BOUND = 4;
/** A rate governor applies (its bucket is on the Slot object). */
export const RATE = 8;
/** The customer's plan changed: resolve again on next use, keeping the slot id. */
export const STALE = 16;
/** `mode: prepaid`: calls debit the wallet on the Slot object. */
export const PREPAID = 32;
/** Spend caps count this slot's calls (R18): the decision prices the call. */
export const CAPPED = 64;
/** The counter has a period clock (an interval from first use, a sliding window): it reads the exact time. */
export const CLOCKED = 128;
/** Metered in a credit unit: a call without an amount is worth the credits of its quantities. */
export const CREDIT = 256;

// Layout of a cell's record (a customer and an entitlement; 16 bytes): where its slot is, and what
// `allow()`'s fast path needs of it (see Decider.quick), so that path reads one record before the counter.
/** The slot id (0: not resolved yet), in `SlotTable.cells`. */
export const CELL_SID = 0;
/**
 * 1 + the slot's counter id when its calls may take the fast path (metered,
 * nothing but a hard limit to check), negative (-1 - the counter id) when they
 * may as well within the slot's validity window (plan history, an expiring
 * override: `TIME_BOUND`), else 0.
 */
export const CELL_QUICK = 1;
/** Int32 numbers a cell takes in `SlotTable.cells`. */
export const CELL_STRIDE = 4;
/** In `SlotTable.cellLimit` (the same memory as float64s, 2 a cell): the slot's limit when hard, else Infinity. */
export const CELL_LIMIT = 1;

/**
 * The slots resolved under one policy, by dense slot id: what a decision
 * needs in typed arrays (8 bytes a slot on every call, 8 more for a hard
 * limit), the `Slot` objects beside them for everything else.
 *
 * Finding a slot takes one map lookup by customer (to a dense customer
 * number) and one by entitlement (a map of the policy's few entitlement ids,
 * always in cache), then reads the cell `customer * entitlements +
 * entitlement` of `cells`: the slot id, and for `allow()`'s fast path the
 * slot's counter id and hard limit, so that path reads the counter's record
 * next, not the slot's. No map per entitlement, no object on the way. Slot 0
 * is scratch: answers that are not cached (ids no plan defines) are built
 * there, so slot id 0 in a cell means "not resolved yet".
 */
export class SlotTable {
  length = 1;
  /** Entitlement id -> its number (ids some plan defines). */
  private readonly entitlements = new Map<string, number>();
  private readonly width: number;
  /** Customer id -> its number, in order of first lookup. */
  private readonly customers = new Map<string, number>();
  /** The customer of the last `cell` lookup and its number (null: none). */
  private lastCustomer: string | null = null;
  private lastNumber = 0;
  /** Cell (customer number * width + entitlement number) -> its record (CELL_STRIDE int32s: CELL_SID, CELL_QUICK). */
  cells = new Int32Array(1024 * CELL_STRIDE);
  /** The same records as float64s (CELL_STRIDE / 2 a cell: CELL_LIMIT). */
  cellLimit = new Float64Array(this.cells.buffer);
  info = new Int32Array(1024 * SLOT_STRIDE);
  /** Infinity when unlimited. */
  limit = new Float64Array(1024);
  /** Usage from which threshold/overage bookkeeping runs (see `Slot.notifyFrom`). */
  notifyFrom = new Float64Array(1024);
  /** 1 = counted since the live alert rules last looked at it (LiveAlerts clears it). */
  alertMark = new Uint8Array(1024);
  /**
   * `mode: prepaid`: the distinct atoms a whole unit costs, exact (see
   * `WalletPricer.quickAtoms`), that slots point to (`UNIT`); entry 0 is NaN:
   * a call must be priced. A few entries, always in cache.
   */
  unitAtoms = new Float64Array(8).fill(Number.NaN);
  private readonly units = new Map<number, number>();
  readonly slots: Slot[] = [];

  constructor(entitlementIds: readonly string[]) {
    for (const id of entitlementIds) this.entitlements.set(id, this.entitlements.size);
    this.width = Math.max(1, this.entitlements.size);
  }

  /**
   * Where the slot of `customer` and `entitlement` is kept in `sids`, or -1
   * when no plan defines the entitlement (such answers are not cached: callers
   * must not be able to grow the engine's memory with made-up ids).
   */
  cell(customer: string, entitlement: string): number {
    const e = this.entitlements.get(entitlement);
    if (e === undefined) return -1;
    // The customer of the previous lookup: a burst of one customer's calls skips the map.
    if (customer === this.lastCustomer) return this.lastNumber * this.width + e;
    let c = this.customers.get(customer);
    if (c === undefined) {
      c = this.customers.size;
      this.customers.set(customer, c);
      const need = (c + 1) * this.width * CELL_STRIDE;
      if (need > this.cells.length) this.growCells(Math.max(need, this.cells.length * 2));
    }
    this.lastCustomer = customer;
    this.lastNumber = c;
    return c * this.width + e;
  }

  /**
   * Where the record of `customer` and `entitlement` starts in `cells` (a
   * multiple of CELL_STRIDE; half of it in `cellLimit`), or -1 when the
   * customer was never looked up or no plan defines the entitlement; unlike
   * `cell`, it never adds the customer.
   */
  find(customer: string, entitlement: string): number {
    const e = this.entitlements.get(entitlement);
    if (e === undefined) return -1;
    let c: number | undefined = this.lastNumber;
    if (customer !== this.lastCustomer) {
      c = this.customers.get(customer);
      if (c === undefined) return -1;
      this.lastCustomer = customer;
      this.lastNumber = c;
    }
    return (c * this.width + e) * CELL_STRIDE;
  }

  /** The slot id in `cell` (0 = not resolved yet). */
  sidAt(cell: number): number {
    return this.cells[cell * CELL_STRIDE + CELL_SID] as number;
  }

  /** Resolve `cell` to a new slot. */
  fill(cell: number, slot: Slot): number {
    return this.refill(cell, -1, slot);
  }

  /** Store `slot` at `sid` (a new id when -1) as the slot of `cell`, and return the id. */
  refill(cell: number, sid: number, slot: Slot): number {
    const id = this.put(sid, slot);
    const at = cell * CELL_STRIDE;
    const flags = this.info[id * SLOT_STRIDE + FLAGS] as number;
    this.cells[at + CELL_SID] = id;
    const quick = (this.info[id * SLOT_STRIDE + CID] as number) + 1;
    this.cells[at + CELL_QUICK] =
      (flags & ~HARD) === METERED ? quick : (flags & ~(HARD | TIME_BOUND)) === METERED ? -quick : 0;
    this.cellLimit[(at >> 1) + CELL_LIMIT] = (flags & HARD) !== 0 ? slot.limit : Infinity;
    return id;
  }

  /** Store `slot` at `sid` (a new id when -1) and return the id; a cell's slot is stored with `refill`. */
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
      (slot.bucket !== null ? RATE : 0) |
      (slot.eff.mode === "prepaid" ? PREPAID : 0) |
      (slot.eff.caps.length > 0 ? CAPPED : 0) |
      (slot.counter !== null && slot.counter.clock !== null ? CLOCKED : 0) |
      (slot.eff.credit !== null ? CREDIT : 0);
    this.limit[id] = slot.limit;
    this.notifyFrom[id] = slot.notifyFrom;
    this.info[at + WALLET] = slot.wallet === null ? -1 : slot.wallet.index;
    this.info[at + UNIT] = this.unitIndex(slot.pricer?.quickAtoms ?? Number.NaN);
    return id;
  }

  /** Where `atoms` is in `unitAtoms` (added when new; 0 for NaN). */
  private unitIndex(atoms: number): number {
    if (Number.isNaN(atoms)) return 0;
    let k = this.units.get(atoms);
    if (k === undefined) {
      k = this.units.size + 1;
      this.units.set(atoms, k);
      if (k === this.unitAtoms.length) {
        const more = new Float64Array(k * 2).fill(Number.NaN);
        more.set(this.unitAtoms);
        this.unitAtoms = more;
      }
      this.unitAtoms[k] = atoms;
    }
    return k;
  }

  /** Mark one customer's slots to be resolved again on their next use (their ids are kept). */
  invalidateCustomer(customer: string): void {
    const c = this.customers.get(customer);
    if (c === undefined) return;
    for (let e = 0; e < this.width; e++) {
      const at = (c * this.width + e) * CELL_STRIDE;
      const sid = this.cells[at + CELL_SID] as number;
      if (sid === 0) continue;
      this.info[sid * SLOT_STRIDE + FLAGS] = (this.info[sid * SLOT_STRIDE + FLAGS] as number) | STALE;
      this.cells[at + CELL_QUICK] = 0;
    }
  }

  /** Forget every slot; ids start over. Fresh arrays: emptying big ones would cost more. */
  reset(): void {
    this.length = 1;
    this.slots.length = 0;
    this.customers.clear();
    this.lastCustomer = null;
    this.cells = new Int32Array(1024 * CELL_STRIDE);
    this.cellLimit = new Float64Array(this.cells.buffer);
    this.info = new Int32Array(1024 * SLOT_STRIDE);
    this.limit = new Float64Array(1024);
    this.notifyFrom = new Float64Array(1024);
    this.alertMark = new Uint8Array(1024);
  }

  private growCells(length: number): void {
    this.cells = resized(this.cells, length);
    this.cellLimit = new Float64Array(this.cells.buffer);
  }

  private grow(): void {
    const n = this.alertMark.length * 2;
    this.info = resized(this.info, n * SLOT_STRIDE);
    this.limit = resized(this.limit, n);
    this.notifyFrom = resized(this.notifyFrom, n);
    this.alertMark = resized(this.alertMark, n);
  }
}
