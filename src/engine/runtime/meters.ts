import { stackKey } from "../core/add-ons.js";
import { eventCredits } from "../core/credits/convert.js";
import type { CompiledCreditUnit } from "../core/credits/types.js";
import { type Counter, CounterTable, THRESHOLDS } from "../core/engine/counter.js";
import type { Hold, Reason, Usage } from "../core/engine/decision.js";
import { Gauge } from "../core/engine/gauge.js";
import { periodClock } from "../core/engine/period-clock.js";
import type { EffectiveEntitlement, PlanChange } from "../core/engine/resolve.js";
import type { CounterRow, HoldRow } from "../core/engine/store-port.js";
import { TokenBucket } from "../core/engine/token-bucket.js";
import type { CompiledMeter, CompiledPolicy, PropertyValue } from "../core/model.js";
import { isSliding, specWindow } from "../core/periods/spec.js";
import { LIFETIME, periodWindow, type Window } from "../core/periods.js";
import { countWeight } from "../core/usage/meters.js";
import type { NoticeContext, UsageNotice } from "./events.js";
import type { PolicyState } from "./policy-state.js";
import { FLAGS, SLOT_STRIDE, Slot, STALE, TIME_BOUND } from "./slot.js";
import type { Wallets } from "./wallets.js";
import type { WriteBehind } from "./write-behind.js";

const EPS = 1e-9;

export interface CountedEntitlement {
  entitlement: string;
  amount: number;
  used: number;
  limit: number | null;
  overage: number;
}

/**
 * The engine's live state: the active policy (with the slots resolved under
 * it), counters per scope owner and entitlement, token buckets, and
 * reservations restored from the store (attached to their counter the first
 * time it is used). A bundle reload replaces `state` only: counters, holds
 * and buckets are keyed by customer and entitlement, not by policy version.
 */
export class Meters {
  /** Every counter's numbers, by counter id (see CounterTable). */
  readonly table = new CounterTable();
  private readonly counters = new Map<string, Counter>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly restored = new Map<string, CounterRow>();
  private readonly restoredHolds = new Map<string, Hold[]>();
  private expired: string[] = [];
  /** The engine's wallets, for `mode: prepaid` slots. */
  wallets: Wallets | null = null;

  constructor(
    /** The active policy; swapped whole by a bundle reload (see PolicyState). */
    public state: PolicyState,
    private readonly history: ReadonlyMap<string, readonly PlanChange[]>,
    counters: CounterRow[],
    holds: HoldRow[],
  ) {
    this.remember(counters, holds);
  }

  /**
   * Replace every counter's numbers and holds with the store's (after the
   * store lease was lost and taken back: another engine counted meanwhile).
   * Counters not used yet take theirs on first use, as at open.
   */
  reload(counters: CounterRow[], holds: HoldRow[]): void {
    this.restored.clear();
    this.restoredHolds.clear();
    this.expired = [];
    this.remember(counters, holds);
    for (const c of this.counters.values()) {
      c.clear();
      this.restore(c, Infinity, c.periodStart);
    }
    this.invalidate();
  }

  private remember(counters: CounterRow[], holds: HoldRow[]): void {
    for (const row of counters) this.restored.set(row.key, row);
    for (const h of holds) {
      const hold: Hold = Object.freeze({
        id: h.id,
        customer: h.customer,
        entitlement: h.entitlement,
        amount: h.amount,
        expiresAt: h.expiresAt,
      });
      const list = this.restoredHolds.get(h.key);
      if (list) list.push(hold);
      else this.restoredHolds.set(h.key, [hold]);
    }
  }

  /**
   * The id of the cached slot of a customer and entitlement in the active
   * policy's slot table (see `SlotTable` for how it is found), re-resolved
   * when `now` leaves its validity.
   */
  slotId(customer: string, entitlement: string, now: number): number {
    const table = this.state.table;
    const cell = table.cell(customer, entitlement);
    if (cell < 0) return table.put(0, this.resolve(customer, entitlement, now));
    const sid = table.sidAt(cell);
    if (sid === 0) return table.fill(cell, this.resolve(customer, entitlement, now));
    const flags = table.info[sid * SLOT_STRIDE + FLAGS] as number;
    if ((flags & (TIME_BOUND | STALE)) !== 0) {
      const slot = table.slots[sid] as Slot;
      if ((flags & STALE) !== 0 || now >= slot.validUntil || now < slot.validFrom)
        table.refill(cell, sid, this.resolve(customer, entitlement, now));
    }
    return sid;
  }

  /** The cached slot of a customer and entitlement (see `slotId`). */
  slot(customer: string, entitlement: string, now: number): Slot {
    const sid = this.slotId(customer, entitlement, now);
    return this.state.table.slots[sid] as Slot;
  }

  /**
   * A plan changed: resolve slots again, lazily. Only `customer`'s when no
   * other customer's terms depend on its plan (it is nobody's parent in the
   * account tree, R7), else every slot. Counters and buckets stay.
   */
  invalidate(customer?: string): void {
    if (customer !== undefined && !this.state.isParent(customer))
      this.state.table.invalidateCustomer(customer);
    else this.state.table.reset();
  }

  /** `usage()`: the current period's counter (a read: a due reset is reported, not written). */
  usage(customer: string, entitlement: string, now: number): Usage {
    const slot = this.slot(customer, entitlement, now);
    const c = slot.counter;
    if (c === null) return { used: 0, held: 0, limit: null, remaining: null, resetsAt: null };
    this.freshen(slot, c, now);
    const limit = slot.limit === Infinity ? null : slot.limit;
    // A time_weighted reading keeps adding area between readings: shown live, counted at the next reading.
    const used = c.gauge === null ? c.used : c.used + c.gauge.pending(now, c.periodStart);
    return {
      used,
      held: c.held,
      limit,
      remaining: limit === null ? null : Math.max(0, limit - used - c.held),
      resetsAt: c.periodEnd >= LIFETIME.end ? null : c.periodEnd,
    };
  }

  /** Bring a counter to `now`: lazy period reset (R6) and expiry of its holds (R8). */
  freshen(slot: Slot, c: Counter, now: number): void {
    if (now >= c.periodEnd) {
      if (c.clock !== null) c.clock.enter(c, now);
      else c.enter(this.window(slot.eff, now));
    }
    if (now >= c.nextExpiry) for (const h of c.expire(now)) this.expired.push(h.id);
  }

  /** Ids of holds that expired since the last call (to delete from the store). */
  drainExpired(): string[] {
    const out = this.expired;
    if (out.length > 0) this.expired = [];
    return out;
  }

  /** Report threshold crossings and overage after `amount` was counted on `c` (which was at `prev`). */
  crossings(slot: Slot, c: Counter, prev: number, amount: number, now: number, ctx: NoticeContext): void {
    const limit = slot.limit;
    const used = c.used;
    for (let i = 0; i < THRESHOLDS.length; i++) {
      const bit = 1 << i;
      const threshold = THRESHOLDS[i] as (typeof THRESHOLDS)[number];
      if ((c.fired & bit) !== 0 || used + EPS < (limit * threshold) / 100) continue;
      c.fired |= bit;
      if (ctx.notifier.listening.threshold) {
        ctx.notifier.emit("threshold", {
          ...this.payload(slot, amount, now, "ok", ctx.version, ctx.digest),
          threshold,
        });
      }
    }
    if (amount > 0 && used > limit + EPS) {
      const first = !c.overaged;
      c.overaged = true;
      if (ctx.notifier.listening.overage) {
        const overage = used - Math.max(prev, limit);
        ctx.notifier.emit("overage", {
          ...this.payload(slot, amount, now, "ok", ctx.version, ctx.digest),
          overage,
          first,
        });
      }
    }
  }

  payload(
    slot: Slot,
    amount: number,
    now: number,
    reason: Reason,
    version: number,
    digest: string,
  ): UsageNotice {
    const c = slot.counter;
    const limit = slot.limit === Infinity || c === null ? null : slot.limit;
    const used = c === null ? 0 : c.used;
    return {
      customer: slot.customer,
      entitlement: slot.entitlement,
      owner: slot.eff.owner,
      amount,
      used,
      limit,
      percent: limit === null ? null : limit === 0 ? (used > 0 ? Infinity : 0) : (used / limit) * 100,
      periodStart: c === null ? now : c.periodStart,
      periodEnd: c === null ? now : c.periodEnd,
      reason,
      at: now,
      version,
      digest,
    };
  }

  /**
   * Count a recorded event toward every metered entitlement of the customer's
   * plan whose meter takes its type and passes its `where` filter.
   */
  applyEvent(
    event: { type: string; customer: string; value?: number; properties?: Record<string, PropertyValue> },
    ts: number,
    wb: WriteBehind,
    ctx: NoticeContext,
  ): CountedEntitlement[] {
    const index = this.state.index;
    const policy = index.policy;
    const { plan: planId, addOns } = index.planAt(event.customer, ts, this.history);
    const plan = planId === null ? undefined : index.stacked(planId, addOns);
    if (!plan) return [];
    const counted: CountedEntitlement[] = [];
    const stack = stackKey(planId as string, addOns);
    for (const { id, meter, credit } of this.state.meteredFor(stack, plan, event.type)) {
      if (credit === undefined && !matches(meter, event.properties)) continue;
      const slot = this.slot(event.customer, id, ts);
      const c = slot.counter;
      if (c === null) continue;
      this.freshen(slot, c, ts);
      const prev = c.used;
      const applied =
        credit === undefined
          ? aggregate(meter, c, event.value, event.properties, ts)
          : creditsOf(credit, policy, c, event);
      if (applied === null) continue;
      if (c.clock !== null && applied !== 0) c.clock.counted(c, ts, applied);
      wb.markDirty(c.id);
      if (ctx.notifier.tracking && c.used >= slot.notifyFrom) this.crossings(slot, c, prev, applied, ts, ctx);
      const limit = slot.limit === Infinity ? null : slot.limit;
      const overage = limit === null || applied <= 0 ? 0 : Math.max(0, c.used - Math.max(prev, limit));
      counted.push({ entitlement: id, amount: applied, used: c.used, limit, overage });
    }
    return counted;
  }

  /**
   * A counter outside the slots (a spend cap's: see SpendCaps), kept,
   * restored, persisted and reset per period like an entitlement's.
   */
  extraCounter(key: string, owner: string, name: string, window: Window): Counter {
    let c = this.counters.get(key);
    if (c === undefined) {
      c = this.table.add(key, owner, name, window);
      this.restore(c, Infinity, window.start);
      this.counters.set(key, c);
    }
    return c;
  }

  private resolve(customer: string, entitlement: string, now: number): Slot {
    const eff = this.state.index.entitlement(customer, entitlement, now, this.history);
    if (eff.reason !== null || eff.meter === null) {
      return new Slot(customer, entitlement, eff.reason ?? "unknown_entitlement", eff, null, null);
    }
    const key = `${entitlement}|${eff.owner}`;
    const window = this.window(eff, now);
    let c = this.counters.get(key);
    if (c === undefined) {
      c = this.table.add(key, eff.owner, entitlement, window);
      c.clock = periodClock(eff.period);
      if (eff.meter.aggregation === "time_weighted") c.gauge = new Gauge(eff.meter.unitTime ?? "hour");
      this.restore(c, eff.limit, now);
      this.counters.set(key, c);
    } else {
      // A reload that changed the period starts a clock of the new kind.
      if (c.clock === null ? periodClock(eff.period) !== null : !c.clock.governs(eff.period))
        c.clock = periodClock(eff.period);
      if (now >= c.periodStart) {
        if (c.clock !== null) c.clock.enter(c, now);
        else c.enter(window);
      }
    }
    let bucket: TokenBucket | null = null;
    if (eff.rate !== null && eff.mode !== "observe") {
      const bucketKey = `${entitlement}|${customer}`;
      bucket = this.buckets.get(bucketKey) ?? null;
      // A reload that changed the rate starts a bucket of the new shape (full, like after a restart).
      if (bucket === null || !bucket.governs(eff.rate)) {
        bucket = new TokenBucket(eff.rate, now);
        this.buckets.set(bucketKey, bucket);
      }
    }
    const slot = new Slot(customer, entitlement, null, eff, c, bucket);
    if (eff.mode === "prepaid" && this.wallets !== null) this.wallets.attach(slot, now);
    return slot;
  }

  /** Restore a persisted counter if it belongs to the current period, and its reservations. */
  private restore(c: Counter, limit: number, now: number): void {
    const row = this.restored.get(c.key);
    const clock = c.clock;
    // The anchor or buckets come first: they say which period the stored numbers belong to.
    if (row?.periodState) c.loadPeriodState(row.periodState);
    if (clock !== null) clock.enter(c, now);
    if (row !== undefined) {
      this.restored.delete(c.key);
      if (row.periodStart === c.periodStart) {
        c.used = row.used;
        c.events = row.events;
        // Notices already sent before the restart are not sent again.
        for (let i = 0; i < THRESHOLDS.length; i++) {
          if (c.used + EPS >= (limit * (THRESHOLDS[i] as number)) / 100) c.fired |= 1 << i;
        }
        c.overaged = c.used > limit + EPS;
      }
    }
    // A sliding counter's usage is its buckets' total at `now`, not the total when it was stored.
    if (clock !== null) clock.enter(c, now);
    const holds = this.restoredHolds.get(c.key);
    if (holds) {
      this.restoredHolds.delete(c.key);
      for (const h of holds) c.addHold(h);
    }
  }

  private window(eff: EffectiveEntitlement, now: number): Window {
    const p = eff.period;
    if (typeof p === "string") return periodWindow(p, now, this.state.zone, eff.billing);
    // A sliding counter's start never moves (its clock frees usage bucket by bucket).
    if (isSliding(p)) return LIFETIME;
    return specWindow(p, now, {
      zone: this.state.zone,
      billing: eff.billing,
      planFrom: eff.planFrom,
      firstUse: Number.NaN,
    });
  }
}

/** A recorded event on a credit-unit counter: the credits of its quantities (null when none). */
function creditsOf(
  unit: CompiledCreditUnit,
  policy: CompiledPolicy,
  c: Counter,
  event: { type: string; value?: number; properties?: Record<string, PropertyValue> },
): number | null {
  const credits = eventCredits(unit, policy.meters, event, policy.creditUnits);
  return credits.isZero() ? null : c.add(credits.toNumber());
}

/** `where`: every listed property must equal one of its accepted values. */
function matches(meter: CompiledMeter, props: Record<string, PropertyValue> | undefined): boolean {
  for (const key in meter.where) {
    const v = props?.[key];
    if (v === undefined) return false;
    const accepted = meter.where[key] as PropertyValue[];
    if (!accepted.some((a) => a === v || String(a) === String(v))) return false;
  }
  return true;
}

/** Apply one event to a counter per the meter's aggregation; the change applied, or null when the event carries no value. */
function aggregate(
  meter: CompiledMeter,
  c: Counter,
  value: number | undefined,
  props: Record<string, PropertyValue> | undefined,
  ts: number,
): number | null {
  if (meter.aggregation === "count") return c.add(countWeight(value));
  const raw = meter.property === null ? value : props?.[meter.property];
  if (meter.aggregation === "unique_count") {
    if (raw === undefined) return null;
    const key = String(raw);
    if (c.uniques === null) c.uniques = new Set();
    if (c.uniques.has(key)) return 0;
    c.uniques.add(key);
    return c.add(1);
  }
  const v =
    typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
  if (!Number.isFinite(v)) return null;
  if (meter.aggregation === "sum") return c.add(v);
  if (meter.aggregation === "max") return v > c.used ? c.add(v - c.used) : 0;
  if (c.gauge !== null) return c.add(c.gauge.read(ts, v, c.periodStart));
  return c.add(v - c.used); // latest
}
