import type { Decision, Hold, Reason } from "../core/engine/decision.js";
import type { PropertyValue } from "../core/model.js";
import type { Decider } from "./decider.js";
import type { Notifier } from "./events.js";
import type { Meters } from "./meters.js";
import type { IdWindow, Persistence } from "./persistence.js";
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
  ) {}

  reserve(customer: string, entitlement: string, amount: number, ttl: number, now: number): Hold | null {
    const slot = this.meters.slot(customer, entitlement, now);
    let reason: Reason | null = slot.reason;
    if (reason === null && !(amount > 0 && amount < Infinity && ttl > 0)) reason = "invalid_amount";
    const c = slot.counter;
    if (reason === null && c !== null) {
      this.meters.freshen(slot, c, now);
      if (slot.hard && c.used + c.held + amount > slot.limit + EPS) reason = "limit_exceeded";
      else if (slot.bucket !== null && !slot.bucket.take(amount, now)) reason = "rate_limited";
    }
    if (reason !== null || c === null) {
      this.d.lastSlot = slot;
      this.d.lastReason = reason ?? "invalid_amount";
      if (this.notifier.listening.denied) this.d.notifyDenied(slot, amount, now);
      return null;
    }
    const hold: Hold = Object.freeze({
      id: `h-${generatedId(this.idPrefix, this.d.seq++)}`,
      customer,
      entitlement,
      amount,
      expiresAt: now + ttl,
    });
    c.addHold(hold);
    this.wb.holdsUpsert.push({ ...hold, key: c.key });
    this.persistence.changed(now);
    return hold;
  }

  settle(
    hold: Hold,
    actual: number,
    now: number,
    properties: Record<string, PropertyValue> | undefined,
  ): Decision {
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    this.d.lastSlot = slot;
    if (slot.counter === null || !(actual >= 0 && actual < Infinity)) {
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
    this.d.count(slot.sid, slot.counter.id, slot, actual, now, hold.id, properties);
    return this.d.decision(true, actual, true);
  }

  /** Free a hold without counting anything. Returns false when it was no longer active. */
  free(hold: Hold, now: number): boolean {
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    const c = slot.counter;
    if (c === null) return false;
    this.meters.freshen(slot, c, now);
    if (c.removeHold(hold.id) === null) return false;
    this.wb.holdsDelete.push(hold.id);
    this.persistence.changed(now);
    return true;
  }
}
