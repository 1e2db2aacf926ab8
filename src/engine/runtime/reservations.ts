import type { Decision, Hold, Reason } from "../core/engine/decision.js";
import type { HoldRow } from "../core/engine/store-port.js";
import type { PropertyValue } from "../core/model.js";
import { walletAmount } from "../core/wallet/quantity.js";
import type { Decider } from "./decider.js";
import type { Notifier } from "./events.js";
import type { Fence } from "./fence.js";
import { isHold, isName, isProperties } from "./input-guards.js";
import type { Meters } from "./meters.js";
import type { IdWindow, Persistence } from "./persistence.js";
import { SharedWallets } from "./shared-wallets.js";
import type { Slot } from "./slot.js";
import type { Wallets } from "./wallets.js";
import { generatedId, type WriteBehind } from "./write-behind.js";

const EPS = 1e-9;

/**
 * Reservations (R8): a hold counts against hard limits until it is settled,
 * released or expires, and is never billed; settling counts the actual usage,
 * even past the limit (the work was done).
 */
export class Reservations {
  constructor(
    private readonly meters: Meters,
    private readonly d: Decider,
    private readonly wb: WriteBehind,
    private readonly persistence: Persistence,
    private readonly seen: IdWindow,
    private readonly notifier: Notifier,
    private readonly idPrefix: string,
    private readonly fence: Fence,
    /** The store's id: hold ids carry it, so a hold of another store is refused. */
    storeId: string | undefined,
  ) {
    this.tag = storeId === undefined ? "" : `${storeId}.`;
  }

  private readonly tag: string;

  /** Ids of the holds loaded from the store (issued by an earlier engine on it): they may be settled here. */
  readonly loaded = new Set<string>();
  /** The engine's wallets (prepaid reservations hold their funds). */
  wallets: Wallets | null = null;

  reserve(customer: string, entitlement: string, amount: number, ttl: unknown, now: number): Hold | null {
    if (!isName(customer) || !isName(entitlement) || now - now !== 0 || !isTtl(ttl)) {
      this.d.refuse("invalid_input", customer, entitlement, amount, now, false);
      return null;
    }
    if (!this.leaseHeld(now)) {
      this.d.refuse(this.fence.reason, customer, entitlement, amount, now, true);
      return null;
    }
    const slot = this.meters.slot(customer, entitlement, now);
    let reason: Reason | null = slot.reason;
    if (reason === null && !(typeof amount === "number" && amount > 0 && amount < Infinity))
      reason = "invalid_amount";
    const c = slot.counter;
    let funds: bigint | null = null;
    if (reason === null && c !== null) {
      this.meters.freshen(slot, c, now);
      const shared = this.d.shared;
      if (slot.hard && c.used + c.held + amount > slot.limit + EPS) reason = "limit_exceeded";
      else if (slot.hard && shared !== null && !shared.covers(c.id, amount, slot.limit, now))
        reason = shared.denial;
      else if (
        slot.eff.mode === "prepaid" &&
        (funds = this.walletFunds(slot, c.used, c.events, amount, now)) === null
      )
        reason = this.fundsDenial;
      else if (slot.bucket !== null && !slot.bucket.take(amount, now)) reason = "rate_limited";
    }
    if (reason !== null || c === null) {
      this.d.lastSlot = slot;
      this.d.lastReason = reason ?? "invalid_amount";
      if (this.notifier.listening.denied) this.d.notifyDenied(slot, amount, now);
      return null;
    }
    const hold: Hold = Object.freeze({
      id: `h-${this.tag}${generatedId(this.idPrefix, this.d.seq++)}`,
      customer,
      entitlement,
      amount,
      expiresAt: now + ttl,
    });
    c.addHold(hold);
    // Wallet funds are held like units (R17): `available` shrinks until settle, release or expiry.
    if (funds !== null && slot.wallet?.hold(hold.id, funds, hold.expiresAt) === true)
      this.wallets?.touch(slot.wallet);
    // A shared limit's hold is spent from the lease now; releasing it gives the units back.
    if (slot.hard) this.d.shared?.spend(c.id, amount);
    this.wb.holdsUpsert.push({ ...hold, key: c.key });
    this.persistence.changed(now);
    return hold;
  }

  /**
   * Settle a hold. What is not a hold this engine issued or loaded from its
   * store (null after a refused reserve, a hold of an engine on another
   * store) is `invalid_hold` and counts nothing: record() counts work done
   * without a hold.
   */
  settle(
    hold: Hold,
    actual: number,
    now: number,
    properties: Record<string, PropertyValue> | undefined,
  ): Decision {
    const h = hold as unknown;
    if (!isHold(h) || !this.issued(h)) {
      this.d.refuse(
        "invalid_hold",
        isHold(h) ? h.customer : "",
        isHold(h) ? h.entitlement : "",
        actual,
        now,
        false,
      );
      return this.d.decision(false, actual, false);
    }
    if (now - now !== 0 || !isProperties(properties)) {
      this.d.refuse("invalid_input", hold.customer, hold.entitlement, actual, now, false);
      return this.d.decision(false, actual, false);
    }
    // A full write buffer refuses new work, not the settling of work already done.
    if (!this.leaseHeld(now) && this.fence.lost) {
      this.d.refuse("store_lease_lost", hold.customer, hold.entitlement, actual, now, true);
      return this.d.decision(false, actual, false);
    }
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    this.d.lastSlot = slot;
    if (slot.counter === null || !(typeof actual === "number" && actual >= 0 && actual < Infinity)) {
      this.d.lastReason = slot.reason ?? "invalid_amount";
      return this.d.decision(false, actual, false);
    }
    this.free(hold, now);
    this.meters.freshen(slot, slot.counter, now);
    if (this.seen.has(hold.id)) {
      this.d.lastReason = "duplicate";
      return this.d.decision(true, actual, false);
    }
    this.d.lastReason = "ok";
    if (slot.eff.mode === "prepaid" && slot.wallet !== null && slot.pricer !== null && actual > 0) {
      const cost = walletAmount(slot.pricer, slot.counter.used, actual, slot.counter.events, properties);
      if (cost !== null) {
        this.d.wAcc = slot.wallet;
        this.d.wDebit = cost;
        this.d.wQuick = Number.NaN;
      }
    }
    if (slot.hard && actual > 0) this.d.shared?.spend(slot.counter.id, actual);
    this.d.count(slot.sid, slot.counter.id, slot, this.d.flagsOf(slot.sid), actual, now, hold.id, properties);
    return this.d.decision(true, actual, true);
  }

  /** `release()`: false for what is not an active hold of this engine, a bad `now`, or a lost store lease. */
  release(hold: unknown, now: number): boolean {
    if (!isHold(hold) || now - now !== 0 || !this.leaseHeld(now)) return false;
    return this.free(hold, now);
  }

  /**
   * Reservations restored from the store (a restart) on a wallet shared by
   * engines: their funds are held in the wallet again, priced as `reserve`
   * prices them (the next slice covers them; `available` counts them at once).
   */
  holdFundsAgain(holds: readonly HoldRow[], now: number): void {
    const wallets = this.wallets;
    if (!(wallets instanceof SharedWallets)) return;
    for (const h of holds) {
      if (h.expiresAt <= now) continue;
      const slot = this.meters.slot(h.customer, h.entitlement, now);
      const c = slot.counter;
      if (slot.eff.mode !== "prepaid" || slot.wallet === null || slot.pricer === null || c === null) continue;
      const cost = walletAmount(slot.pricer, c.used, h.amount, c.events);
      if (cost !== null && cost > 0n) wallets.holdAgain(slot.wallet, h.id, cost, h.expiresAt);
    }
  }

  /** Free a hold without counting anything. Returns false when it was no longer active. */
  free(hold: Hold, now: number): boolean {
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    if (slot.wallet !== null && slot.wallet.release(hold.id) !== null) this.wallets?.touch(slot.wallet);
    const c = slot.counter;
    if (c === null) return false;
    this.meters.freshen(slot, c, now);
    if (c.removeHold(hold.id) === null) return false;
    if (slot.hard) this.d.shared?.refund(c.id, hold.amount);
    this.wb.holdsDelete.push(hold.id);
    this.persistence.changed(now);
    return true;
  }

  /**
   * Issued on this store (its id, so holds issued before a restart and since
   * expired still settle, R8), by this engine, loaded from the store, or
   * already settled here.
   */
  private issued(hold: Hold): boolean {
    const id = hold.id;
    if (this.tag !== "" && id.startsWith(`h-${this.tag}`)) return true;
    return id.startsWith(`h-${this.idPrefix}`) || this.loaded.has(id) || this.seen.has(id);
  }

  /** Wallet funds a reservation of `amount` needs, or null when the wallet cannot hold them. */
  private walletFunds(slot: Slot, used: number, events: number, amount: number, now: number): bigint | null {
    const w = slot.wallet;
    if (w === null || slot.pricer === null) return null;
    this.wallets?.advance(w, now);
    const cost = walletAmount(slot.pricer, used, amount, events);
    if (cost !== null && cost > w.available) {
      // A wallet shared by engines may fetch more funds (`lease_pending`).
      this.fundsDenial = this.wallets?.short(w, cost) ?? "insufficient_balance";
      return null;
    }
    this.fundsDenial = "insufficient_balance";
    return cost;
  }

  /** Why the last `walletFunds` that returned null did. */
  private fundsDenial: "insufficient_balance" | "lease_pending" = "insufficient_balance";

  private leaseHeld(now: number): boolean {
    return now < this.fence.due || this.fence.held(now);
  }
}

function isTtl(ttl: unknown): ttl is number {
  return typeof ttl === "number" && ttl > 0 && ttl < Infinity;
}
