import { toNanos, unitNanos } from "../core/credits/caps.js";
import { type FastCall, fastCall } from "../core/credits/fast.js";
import {
  type Counter,
  type CounterTable,
  DUE,
  EVENTS,
  HELD,
  LEASE,
  LEASE_STRIDE,
  STRIDE,
  USED,
} from "../core/engine/counter.js";
import type { Decision, Reason } from "../core/engine/decision.js";
import { marginalPrice } from "../core/engine/marginal-price.js";
import type { TokenBucket } from "../core/engine/token-bucket.js";
import type { PropertyValue } from "../core/model.js";
import { LIFETIME } from "../core/periods.js";
import {
  LANE,
  ROOM,
  SPENT,
  DUE as WALLET_DUE,
  type WalletAccount,
  type WalletLanes,
} from "../core/wallet/account.js";
import { walletAmount } from "../core/wallet/quantity.js";
import type { Notifier } from "./events.js";
import type { Fence } from "./fence.js";
import { isProperties, refusalSlot } from "./input-guards.js";
import type { LeaseBook } from "./lease-holder.js";
import type { LiveAlerts } from "./live-alerts.js";
import type { Meters } from "./meters.js";
import type { CallOptions, RecordResult, UsageEventInput } from "./options.js";
import type { IdWindow, Persistence } from "./persistence.js";
import {
  CAPPED,
  CELL_LIMIT,
  CELL_QUICK,
  CELL_SID,
  CID,
  CLOCKED,
  CREDIT,
  FLAGS,
  HARD,
  METERED,
  PREPAID,
  RATE,
  SLOT_STRIDE,
  type Slot,
  TIME_BOUND,
  UNIT,
  WALLET,
} from "./slot.js";
import type { SpendCaps } from "./spend-caps.js";
import { GUARD_MS, type TickClock } from "./tick-clock.js";
import type { Wallets } from "./wallets.js";
import { generatedId, type WriteBehind } from "./write-behind.js";

const EPS = 1e-9;
/** Slot flags whose checks need the exact time (see TickClock). */
const EXACT_TIME = TIME_BOUND | RATE | CAPPED | CLOCKED;

/**
 * The decision path shared by allow, decide, check and settle: one
 * implementation, so the boolean hot path and the full Decision can never
 * disagree. It reports its outcome through the `last*` fields instead of
 * returning an object, so `allow()` allocates nothing.
 */
export class Decider {
  lastSlot: Slot | null = null;
  lastReason: Reason = "ok";
  /** Counter value and event count before the last counted call, and the change it applied. */
  lastPrev = 0;
  lastEvents = 0;
  lastApplied = 0;
  /** The amount the last evaluation decided on: the given one, or the credits of the call's quantities. */
  lastAmount = 0;
  /** How the last call's quantities are stored, when its amount came from them (credit units). */
  private lastCall: FastCall | null = null;
  /** Spend caps (R18); set by the engine. */
  caps!: SpendCaps;
  /** Sequence for generated event and hold ids. */
  seq = 0;
  private readonly wb: WriteBehind;
  private readonly counters: CounterTable;
  /** Live alert rules of the active policy; null when there are none. */
  alerts: LiveAlerts | null = null;
  /** The engine's wallets (SPEC §12). */
  wallets: Wallets | null = null;
  /** A wallet debit `count` applies with the call it counts (same operation, R17); reset by it. */
  wAcc: WalletAccount | null = null;
  wDebit = 0n;
  /** Or a debit of `wQuick` atoms on the number lane of account `wQuickAt` (NaN: none). */
  wQuick = Number.NaN;
  wQuickAt = -1;
  /** Its entitlement (the caller's string: the slot object is not read for it). */
  wQuickFor = "";
  /** The wallets' hot figures (see WalletLanes); null without wallets. */
  private get lanes(): WalletLanes | null {
    return this.wallets === null ? null : this.wallets.quickLanes;
  }
  /**
   * The engine's tick clock (null with an injected clock: every call reads
   * it). `allow` sets `coarse` when its `now` is the tick clock's cached
   * reading; `evaluate` clears it.
   */
  tick: TickClock | null = null;
  coarse = false;
  /** The leases on shared hard limits (`counters`); null when limits are this engine's alone. */
  shared: LeaseBook | null = null;

  constructor(
    private readonly meters: Meters,
    private readonly persistence: Persistence,
    private readonly seen: IdWindow,
    private readonly notifier: Notifier,
    private readonly sync: boolean,
    /** The store's owner lease: `due` is when a call must confirm it (never, without a lease). */
    private readonly fence: Fence,
  ) {
    this.wb = persistence.wb;
    this.counters = meters.table;
  }

  /**
   * `allow()` of the common case, or nothing: a call of `amount` units (a
   * positive finite number) without properties, with an `id` not seen yet or
   * none, at the tick clock's reading `now`, on a resolved slot that is
   * metered, within its limit if hard, and has nothing else to check (no rate
   * governor, spend cap, wallet, period clock or credit unit; on shared
   * counters, a hard limit whose held lease covers the call; no period end,
   * hold expiry, store lease renewal or end of the slot's validity window
   * within GUARD_MS of `now`). Such a call is counted (and spent from the
   * lease) and true returned, as `evaluate` would; anything else returns false
   * having read only, for `evaluate` to decide with the same `now`.
   */
  quick(customer: string, entitlement: string, amount: number, now: number, id: string | undefined): boolean {
    if (now + GUARD_MS >= this.fence.due) return false;
    const table = this.meters.state.table;
    const cell = table.find(customer, entitlement);
    if (cell < 0) return false;
    // The cell's record holds what this path needs of the slot (see CELL_QUICK): then the counter's record.
    let quick = table.cells[cell + CELL_QUICK] as number;
    if (quick === 0) return false;
    if (quick < 0) {
      // A time-bound slot: its validity window is a boundary like a period end (GUARD_MS from either end).
      const slot = table.slots[table.cells[cell + CELL_SID] as number] as Slot;
      if (now < slot.validFrom + GUARD_MS || now + GUARD_MS >= slot.validUntil) return false;
      quick = -quick;
    }
    const cid = quick - 1;
    const crec = this.counters.rec;
    const cat = cid * STRIDE;
    if (now + GUARD_MS >= (crec[cat + DUE] as number)) return false;
    const limit = table.cellLimit[(cell >> 1) + CELL_LIMIT] as number;
    if ((crec[cat + USED] as number) + (crec[cat + HELD] as number) + amount > limit + EPS) return false;
    // A hard limit on shared counters (its cell's limit is finite): only what the held lease covers.
    // Its allowance is in the counter's lease record (LEASE), zero unless the lease is of the
    // counter's current period; this path never sees a sliding window's (CLOCKED), leased by bucket.
    const shared = this.shared;
    const leased = shared !== null && limit !== Infinity;
    if (leased) {
      const lease = this.counters.lease[cid * LEASE_STRIDE + LEASE] as number;
      if (!(lease > 0 && amount <= lease + EPS)) return false;
    }
    // A duplicate is answered by `evaluate` (true, counting nothing).
    if (id !== undefined && this.seen.has(id)) return false;
    const sid = table.cells[cell + CELL_SID] as number;
    const slot = table.slots[sid] as Slot;
    this.coarse = false;
    this.lastCall = null;
    this.lastAmount = amount;
    this.lastSlot = slot;
    this.lastReason = "ok";
    // No wallet debit goes with this call (a prepaid slot never gets here).
    this.wAcc = null;
    this.wQuick = Number.NaN;
    if (leased) shared.spend(cid, amount);
    // Such a slot is METERED, maybe HARD or TIME_BOUND, never CLOCKED (see CELL_QUICK).
    this.count(sid, cid, slot, METERED, amount, now, id, undefined);
    return true;
  }

  /** Evaluate a call (and count it when `commit`); the outcome details stay in the `last*` fields. */
  evaluate(
    customer: string,
    entitlement: string,
    /** undefined: 1, or for an entitlement metered in a credit unit, the credits of the call's quantities. */
    amount: number | undefined,
    now: number,
    options: CallOptions | undefined | null,
    commit: boolean,
  ): boolean {
    // `now` came from the tick clock: compared with an instant it is first read again when near it.
    let coarse = this.coarse;
    this.coarse = false;
    this.lastCall = null;
    this.lastAmount = amount ?? 1;
    // One typeof per name, a subtraction for a NaN or infinite `now`, one comparison for the lease.
    if (typeof customer !== "string" || typeof entitlement !== "string" || customer === "" || now - now !== 0)
      return this.refuse("invalid_input", customer, entitlement, this.lastAmount, now, false);
    if (coarse && now + GUARD_MS >= this.fence.due) {
      now = (this.tick as TickClock).read();
      coarse = false;
    }
    if (now >= this.fence.due && !this.fence.held(now))
      return this.refuse(this.fence.reason, customer, entitlement, this.lastAmount, now, commit);
    const meters = this.meters;
    let sid = meters.slotId(customer, entitlement, now);
    let table = meters.state.table;
    let flags = table.info[sid * SLOT_STRIDE + FLAGS] as number;
    if (coarse && (flags & EXACT_TIME) !== 0) {
      // Validity windows, token buckets, spend caps and period clocks read the exact time.
      now = (this.tick as TickClock).read();
      coarse = false;
      if ((flags & TIME_BOUND) !== 0) {
        sid = meters.slotId(customer, entitlement, now);
        table = meters.state.table;
        flags = table.info[sid * SLOT_STRIDE + FLAGS] as number;
      }
    }
    const info = table.info;
    const at = sid * SLOT_STRIDE;
    const slot = table.slots[sid] as Slot;
    this.lastSlot = slot;
    this.lastApplied = 0;
    if ((flags & METERED) === 0) {
      this.lastReason = slot.reason ?? "unknown_entitlement";
      if (this.lastReason === "feature_enabled") return true;
      if (commit && this.notifier.listening.denied) this.notifyDenied(slot, this.lastAmount, now);
      return false;
    }
    const cid = info[at + CID] as number;
    const crec = this.counters.rec;
    const cat = cid * STRIDE;
    if (coarse && now + GUARD_MS >= (crec[cat + DUE] as number)) {
      now = (this.tick as TickClock).read();
      coarse = false;
    }
    if (now >= (crec[cat + DUE] as number)) meters.freshen(slot, slot.counter as Counter, now);
    if ((typeof amount !== "number" || !Number.isFinite(amount)) && amount !== undefined) {
      this.lastReason = "invalid_amount";
      if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
      return false;
    }
    let id: string | undefined;
    if (options !== undefined && options !== null) {
      const given = options.id;
      if (given !== undefined && given !== null) {
        if (typeof given !== "string" || !isProperties(options.properties)) {
          this.lastReason = "invalid_input";
          return false;
        }
        if (this.seen.has(given)) {
          this.lastReason = "duplicate";
          return true;
        }
        id = given;
      } else if (options.properties !== undefined && !isProperties(options.properties)) {
        this.lastReason = "invalid_input";
        return false;
      }
    }
    if (amount === undefined) {
      // 1, unless metered in a credit unit (the flag: no object is read for the common case).
      amount = (flags & CREDIT) === 0 ? 1 : this.derive(slot, options);
      this.lastAmount = amount;
      if (Number.isNaN(amount)) {
        this.lastReason = "invalid_amount";
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
    }
    if (amount > 0) {
      if (
        (flags & HARD) !== 0 &&
        (crec[cat + USED] as number) + (crec[cat + HELD] as number) + amount >
          (table.limit[sid] as number) + EPS
      ) {
        this.lastReason = "limit_exceeded";
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
      const shared = this.shared;
      if (
        shared !== null &&
        (flags & HARD) !== 0 &&
        !shared.covers(cid, amount, table.limit[sid] as number, now)
      ) {
        this.lastReason = shared.denial;
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
      if ((flags & CAPPED) !== 0 && !this.caps.admit(slot, this.capPrice(slot, cat, amount), now)) {
        this.lastReason = this.caps.denial;
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
    }
    let debit = 0n;
    let quick = Number.NaN;
    let wid = -1;
    let wallet: WalletAccount | null = null;
    if ((flags & PREPAID) !== 0 && amount !== 0) {
      // Checked before the rate governor takes tokens: a refused call changes nothing (R4).
      wid = info[at + WALLET] as number;
      const lanes = this.lanes;
      if (wid >= 0 && lanes !== null) {
        // One row of numbers per wallet (half a cache line): when something falls due, spend and room.
        const row = lanes.row;
        const wat = wid * LANE;
        const due = row[wat + WALLET_DUE] as number;
        if (coarse && now + GUARD_MS >= due) now = (this.tick as TickClock).read();
        if (now >= due) this.wallets?.advance(lanes.accounts[wid] as WalletAccount, now);
        // Whole units at a flat price, within what was available at the last fold: number arithmetic, exact.
        if (amount > 0 && Number.isSafeInteger(amount)) {
          const atoms = amount * (table.unitAtoms[info[at + UNIT] as number] as number);
          if (
            atoms <= Number.MAX_SAFE_INTEGER &&
            (row[wat + SPENT] as number) + atoms <= (row[wat + ROOM] as number)
          )
            quick = atoms;
        }
      } else if (lanes === null && slot.wallet !== null) this.wallets?.advance(slot.wallet, now);
      if (Number.isNaN(quick)) {
        const w = slot.wallet;
        const cost =
          w === null || slot.pricer === null
            ? null
            : walletAmount(
                slot.pricer,
                crec[cat + USED] as number,
                amount,
                crec[cat + EVENTS] as number,
                options == null ? undefined : options.properties,
              );
        if (w === null || cost === null || cost > w.available) {
          this.lastReason =
            w === null
              ? "insufficient_balance"
              : cost === null
                ? "invalid_amount"
                : (this.wallets as Wallets).short(w, cost);
          if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
          return false;
        }
        debit = cost;
        wallet = w;
      }
    }
    if (amount > 0) {
      if ((flags & RATE) !== 0) {
        const bucket = slot.bucket as TokenBucket;
        if (!(commit ? bucket.take(amount, now) : bucket.available(now) + EPS >= amount)) {
          this.lastReason = "rate_limited";
          if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
          return false;
        }
      }
    } else if ((flags & CAPPED) !== 0) this.caps.admit(slot, this.capPrice(slot, cat, amount), now);
    this.lastReason = "ok";
    if (commit && amount > 0 && this.shared !== null && (flags & HARD) !== 0) this.shared.spend(cid, amount);
    if (commit && amount !== 0) {
      this.wAcc = wallet;
      this.wDebit = debit;
      this.wQuick = quick;
      this.wQuickAt = wid;
      this.wQuickFor = entitlement;
      const props = options == null ? undefined : options.properties;
      if ((flags & CAPPED) === 0) this.count(sid, cid, slot, flags, amount, now, id, props);
      else {
        const spent = this.caps.spend(slot, now, this.wb);
        try {
          this.count(sid, cid, slot, flags, amount, now, id, props);
        } catch (err) {
          this.caps.undo(slot, spent);
          throw err;
        }
      }
      // A refund (R5) gives what it took off the counter back to the shared pool too.
      if (amount < 0 && this.shared !== null && (flags & HARD) !== 0 && this.lastApplied < 0)
        this.shared.refund(cid, -this.lastApplied);
    }
    return true;
  }

  /**
   * The amount of a call that gave none: 1, or on a credit-unit entitlement
   * the credits of the quantities in its properties (NaN when it carries
   * none, or ones that cannot be priced or stored as one event).
   */
  private derive(slot: Slot, options: CallOptions | undefined | null): number {
    const unit = slot.eff.credit;
    if (unit === null) return 1;
    const policy = this.meters.state.policy;
    const call = fastCall(unit, policy.meters, options?.properties, policy.creditUnits);
    if (call === null || typeof call === "string") return Number.NaN;
    this.lastCall = call;
    return call.credits;
  }

  /** The FLAGS of slot `sid` in the active table (for `count`). */
  flagsOf(sid: number): number {
    return this.meters.state.table.info[sid * SLOT_STRIDE + FLAGS] as number;
  }

  /** The call's marginal price in nanos, as the decision reports it (what caps count, R18). */
  private capPrice(slot: Slot, cat: number, amount: number): number {
    const crec = this.counters.rec;
    return priceNanos(slot, crec[cat + USED] as number, amount, crec[cat + EVENTS] as number);
  }

  /**
   * Count `amount` on counter `cid` (of slot `sid`, the active table's `slot`)
   * now, buffer the event, persist per durability, then notify. `flags` are
   * the slot's FLAGS as the caller knows them (only CLOCKED is read here), so
   * a call does not read the slot's record a second time.
   */
  count(
    sid: number,
    cid: number,
    slot: Slot,
    flags: number,
    amount: number,
    now: number,
    id: string | undefined,
    properties: Record<string, PropertyValue> | undefined,
  ): void {
    const crec = this.counters.rec;
    const cat = cid * STRIDE;
    const prev = crec[cat + USED] as number;
    const events = crec[cat + EVENTS] as number;
    const used = Math.max(prev + amount, 0);
    crec[cat + USED] = used;
    if (amount > 0) crec[cat + EVENTS] = events + 1;
    const applied = used - prev;
    this.lastPrev = prev;
    this.lastEvents = events;
    this.lastApplied = applied;
    const wb = this.wb;
    // The flag, not the counter object: most counters have no period clock.
    const clock = (flags & CLOCKED) === 0 ? null : (slot.counter as Counter).clock;
    if (clock !== null && applied !== 0) clock.counted(slot.counter as Counter, now, applied);
    wb.markDirty(cid);
    let wallet = this.wAcc;
    const quick = this.wQuick;
    let before: ReturnType<WalletAccount["snapshot"]> | null = null;
    // Where the ledger is before this call's debit (a failed synchronous write drops what follows).
    const mark = this.sync && this.wallets !== null ? this.wallets.sink.length : 0;
    if (!Number.isNaN(quick)) {
      this.wQuick = Number.NaN;
      const wallets = this.wallets as Wallets;
      if (this.sync) {
        wallet = wallets.lanes.accounts[this.wQuickAt] as WalletAccount;
        before = wallet.snapshot();
      }
      const args = wallets.quickArgs;
      args[0] = now;
      args[1] = quick;
      wallets.spendQuick(this.wQuickAt, id ?? this.seq, this.wQuickFor);
    } else if (wallet !== null) {
      this.wAcc = null;
      if (this.sync) before = wallet.snapshot();
      (this.wallets as Wallets).debitDone(wallet, id ?? this.seq, this.wDebit, now, slot.entitlement);
    }
    const call = this.lastCall;
    if (call === null) wb.events.push(id ?? this.seq++, slot, now, applied, properties);
    else {
      // The call's quantities are the event (as if recorded), so `bill` converts them as the decision did.
      const source = {
        eventType: call.type,
        customer: slot.customer,
        valueProp: null,
        filterProps: call.filterProps,
      };
      wb.events.push(id ?? this.seq++, source, now, call.value ?? Number.NaN, properties);
    }
    if (id !== undefined) this.seen.add(id);
    if (this.sync) {
      try {
        this.persistence.flush(now);
      } catch (err) {
        // Nothing of a decision that was not committed survives it (R13: the id is not marked seen).
        crec[cat + USED] = prev;
        crec[cat + EVENTS] = events;
        if (clock !== null && applied !== 0) clock.counted(slot.counter as Counter, now, -applied);
        if (wallet !== null && before !== null) (this.wallets as Wallets).undo(wallet, before, mark);
        wb.events.pop();
        if (id === undefined) this.seq--;
        if (id !== undefined) this.seen.delete(id);
        throw err;
      }
    } else this.persistence.changed(now);
    const table = this.meters.state.table;
    if (this.notifier.tracking && used >= (table.notifyFrom[sid] as number))
      this.meters.crossings(slot, slot.counter as Counter, prev, amount, now, this.meters.state);
    const alerts = this.alerts;
    if (alerts !== null && table.alertMark[sid] === 0) alerts.touch(sid, now);
  }

  /**
   * `record()` of a checked event at `ts`: counted toward every matching
   * entitlement. With the store lease lost the event is still stored (the
   * work was done) but counts nowhere.
   */
  record(event: UsageEventInput, ts: number, now: number, idPrefix: string): RecordResult {
    const seq = this.seq++;
    const id = event.id ?? generatedId(idPrefix, seq);
    const state = this.meters.state;
    if (event.id !== undefined && this.seen.has(event.id))
      return { id, version: state.version, digest: state.digest, duplicate: true, counted: [] };
    // A full write buffer does not stop counting what was done, only new calls.
    const held = now < this.fence.due || this.fence.held(now) || !this.fence.lost;
    const counted = held ? this.meters.applyEvent(event, ts, this.wb, state) : [];
    for (const c of counted) {
      const slot = this.meters.slot(event.customer, c.entitlement, ts);
      // Recorded work costs what a decision would have priced; caps count it too (R18).
      if (slot.eff.caps.length > 0 && c.amount !== 0) {
        const events = slot.counter === null ? 0 : Math.max(0, slot.counter.events - 1);
        this.caps.recorded(slot, priceNanos(slot, c.used - c.amount, c.amount, events), ts, this.wb);
      }
    }
    if (this.wallets !== null)
      for (const c of counted)
        this.wallets.recorded(
          this.meters.slot(event.customer, c.entitlement, ts),
          c,
          id,
          ts,
          event.properties,
        );
    const source = { eventType: event.type, customer: event.customer, valueProp: null, filterProps: null };
    this.wb.events.push(event.id ?? seq, source, ts, event.value ?? Number.NaN, event.properties);
    if (event.id !== undefined) this.seen.add(event.id);
    this.persistence.changed(now);
    const alerts = this.alerts;
    if (alerts !== null) {
      const marks = state.table.alertMark;
      for (const c of counted) {
        const sid = this.meters.slotId(event.customer, c.entitlement, ts);
        if (marks[sid] === 0) alerts.touch(sid, ts);
      }
    }
    return { id, version: state.version, digest: state.digest, duplicate: false, counted };
  }

  /** The Decision for the last evaluation (price computed here, never on the allow() path). */
  decision(allowed: boolean, amount: number, counted: boolean): Decision {
    const slot = this.lastSlot as Slot;
    // Same synchronous call as the evaluation, so the same policy state (a reload cannot run in between).
    const state = this.meters.state;
    const c = slot.counter;
    const limit = slot.limit === Infinity || c === null ? null : slot.limit;
    const used = c === null ? 0 : c.used;
    const before = counted ? this.lastPrev : used;
    const delta = counted ? this.lastApplied : amount;
    const reason = this.lastReason;
    const priced = allowed && reason === "ok" && c !== null && delta !== 0;
    let overage = 0;
    if (priced && limit !== null && delta > 0)
      overage = Math.max(0, before + delta - Math.max(before, limit));
    return {
      allowed,
      reason,
      used,
      limit,
      remaining: limit === null || c === null ? null : Math.max(0, limit - used - c.held),
      resetsAt: c === null || c.periodEnd >= LIFETIME.end ? null : c.periodEnd,
      overage,
      price: priced
        ? marginalPrice(slot.eff.price, before, delta, counted ? this.lastEvents : (c?.events ?? 0))
        : "0",
      version: state.version,
      digest: state.digest,
    };
  }

  /**
   * A call refused before any lookup (bad names or time, a lost store lease):
   * nothing is resolved or counted. Invalid input is a caller's bug, not
   * traffic, so only a lost lease is reported as `denied`.
   */
  refuse(
    reason: "invalid_input" | "invalid_hold" | "store_lease_lost" | "store_backlog",
    customer: unknown,
    entitlement: unknown,
    amount: number,
    now: number,
    notify: boolean,
  ): false {
    const slot = refusalSlot(customer, entitlement, reason);
    this.lastSlot = slot;
    this.lastReason = reason;
    this.lastApplied = 0;
    if (notify && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
    return false;
  }

  notifyDenied(slot: Slot, amount: number, now: number): void {
    const state = this.meters.state;
    this.notifier.emit(
      "denied",
      this.meters.payload(slot, amount, now, this.lastReason, state.version, state.digest),
    );
  }
}

/** The marginal price in nanos of `amount` units after `used` units and `events` events of the period (R18). */
function priceNanos(slot: Slot, used: number, amount: number, events: number): number {
  const model = slot.eff.price;
  // Whole units at a flat unit price: an integer product, no decimal arithmetic (the common case).
  if (
    model !== null &&
    model.model === "per_unit" &&
    model.freeUnits === 0 &&
    amount > 0 &&
    Number.isInteger(amount)
  ) {
    const n = amount * unitNanos(model.unitPrice);
    if (Number.isSafeInteger(n)) return n;
  }
  return toNanos(marginalPrice(model, used, amount, events));
}
