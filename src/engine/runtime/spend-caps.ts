import { capKey, capNanos, capsOf, fromNanos } from "../core/credits/caps.js";
import type { CompiledCap } from "../core/credits/types.js";
import { planInCurrency } from "../core/currencies.js";
import type { Counter } from "../core/engine/counter.js";
import type { PlanHistory } from "../core/engine/resolve.js";
import type { DecimalString } from "../core/model.js";
import { decStr } from "../core/money.js";
import { LIFETIME, periodWindow } from "../core/periods.js";
import type { LeaseBook } from "./lease-holder.js";
import type { Meters } from "./meters.js";
import type { Slot } from "./slot.js";
import type { WriteBehind } from "./write-behind.js";

const EPS = 1e-9;

/** What `limitr.caps(customer)` reports for one cap (money as decimal strings). */
export interface CapUsage {
  cap: string;
  mode: "hard" | "soft";
  entitlements: string[];
  amount: DecimalString;
  /** Money the listed entitlements charged in the current period. */
  spent: DecimalString;
  /** amount - spent, never below 0. */
  remaining: DecimalString;
  /** spent / amount * 100 (null when the amount is 0). */
  percent: number | null;
  periodStart: number;
  /** Epoch ms of the reset; null for a lifetime cap. */
  resetsAt: number | null;
}

/**
 * Spend caps (R18): money per period across entitlements, counted with each
 * decision's exact `price`. A cap's spend is a counter like an entitlement's
 * (in nanos, see `toNanos`), keyed by cap and calling customer, so it is
 * persisted, restored and reset per period by the same machinery.
 */
export class SpendCaps {
  /** The price of the last admitted call in nanos (spent on commit). */
  lastNanos = 0;
  /** Why the last call `admit` refused was refused. */
  denial: "cap_exceeded" | "lease_pending" = "cap_exceeded";
  /**
   * Leases on hard caps shared by every engine (`counters`): a cap's pool
   * counts nanos like a hard limit's pool counts units. Null when caps are
   * this engine's alone.
   */
  shared: LeaseBook | null = null;

  constructor(
    private readonly meters: Meters,
    private readonly history: PlanHistory,
  ) {}

  /** The cap counters of a slot, brought to `now`'s period. */
  counters(slot: Slot, now: number): Counter[] {
    let list = slot.capCounters;
    if (list === null) {
      list = slot.eff.caps.map((cap) => this.counter(cap, slot.customer, now, slot));
      slot.capCounters = list;
    }
    const caps = slot.eff.caps;
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as Counter;
      if (now >= c.periodEnd)
        c.enter(periodWindow((caps[i] as CompiledCap).period, now, this.meters.state.zone, slot.eff.billing));
    }
    return list;
  }

  /**
   * Would a call of price `nanos` pass every hard cap of the slot? Remembers
   * the price for `spend`. Refunds and free calls always pass.
   */
  admit(slot: Slot, nanos: number, now: number): boolean {
    this.lastNanos = nanos;
    if (nanos <= 0) return true;
    const list = this.counters(slot, now);
    const caps = slot.eff.caps;
    this.denial = "cap_exceeded";
    for (let i = 0; i < list.length; i++) {
      const cap = caps[i] as CompiledCap;
      if (cap.mode === "hard" && (list[i] as Counter).used + nanos > capNanos(cap) + EPS) return false;
    }
    const shared = this.shared;
    if (shared !== null)
      for (let i = 0; i < list.length; i++) {
        const cap = caps[i] as CompiledCap;
        if (cap.mode === "hard" && !shared.covers((list[i] as Counter).id, nanos, capNanos(cap), now)) {
          this.denial = shared.denial === "limit_exceeded" ? "cap_exceeded" : "lease_pending";
          return false;
        }
      }
    return true;
  }

  /** Count the admitted call's price on every cap of the slot (never below zero, R5); returns what to undo. */
  spend(slot: Slot, now: number, wb: WriteBehind): number[] {
    const nanos = this.lastNanos;
    if (nanos === 0) return [];
    const list = this.counters(slot, now);
    const applied: number[] = [];
    for (const c of list) {
      applied.push(c.add(nanos));
      wb.markDirty(c.id);
    }
    this.leased(slot, list, nanos, true);
    return applied;
  }

  /**
   * Spend `nanos` from the leases of the slot's hard caps (or give back a
   * refund's): an admitted call's (`admit` made sure each lease covers it,
   * refilled at the low-water mark) or recorded work's (reported as is).
   */
  private leased(slot: Slot, list: Counter[], nanos: number, admitted: boolean): void {
    const shared = this.shared;
    if (shared === null || nanos === 0) return;
    const caps = slot.eff.caps;
    for (let i = 0; i < list.length; i++) {
      if ((caps[i] as CompiledCap).mode !== "hard") continue;
      const cid = (list[i] as Counter).id;
      if (nanos < 0) shared.refund(cid, -nanos);
      else if (admitted) shared.spend(cid, nanos);
      else shared.consume(cid, nanos);
    }
  }

  /**
   * `record()` counted work on a capped slot: its price counts on every cap
   * of the slot, hard ones too (the work was done, so the spend may pass the
   * amount; the next decision is then denied).
   */
  recorded(slot: Slot, nanos: number, now: number, wb: WriteBehind): void {
    if (nanos === 0 || !Number.isFinite(nanos)) return;
    const list = this.counters(slot, now);
    for (const c of list) {
      c.add(nanos);
      wb.markDirty(c.id);
    }
    this.leased(slot, list, nanos, false);
  }

  /** The fullest of the slot's caps in the current period (live alert figures); null when none counts it. */
  fullest(slot: Slot, now: number): { spend: number; percent: number | null } | null {
    const caps = slot.eff.caps;
    if (caps.length === 0) return null;
    const list = this.counters(slot, now);
    let best: { spend: number; percent: number | null } | null = null;
    for (let i = 0; i < list.length; i++) {
      const used = (list[i] as Counter).used;
      const amount = capNanos(caps[i] as CompiledCap);
      const percent = amount === 0 ? null : (used / amount) * 100;
      if (best === null || (percent ?? -1) > (best.percent ?? -1)) best = { spend: used / 1e9, percent };
    }
    return best;
  }

  /** Take back what `spend` applied (a synchronous write that failed leaves no trace). */
  undo(slot: Slot, applied: number[]): void {
    const list = slot.capCounters ?? [];
    applied.forEach((a, i) => {
      const c = list[i] as Counter;
      c.used = c.used - a;
      if (a > 0) c.events = c.events - 1;
      if (a > 0 && this.shared !== null && (slot.eff.caps[i] as CompiledCap).mode === "hard")
        this.shared.refund(c.id, a);
    });
  }

  /** Every cap of a customer's plan and contract, with its spend in the current period (a read). */
  usage(customer: string, now: number): CapUsage[] {
    const index = this.meters.state.index;
    const policy = index.policy;
    const at = index.planAt(customer, now, this.history);
    const contract = Object.hasOwn(policy.customers, customer) ? policy.customers[customer] : undefined;
    const listed = at.plan === null ? undefined : policy.plans[at.plan];
    // Amounts in the customer's currency, as the decisions that spend them.
    const currency = index.currencyOf(customer);
    const plan =
      listed !== undefined && currency !== undefined
        ? (planInCurrency(policy, listed, currency) ?? undefined)
        : listed;
    if (plan === undefined) return [];
    const billing = { interval: plan.interval, anchor: plan.anchor, since: at.since };
    const caps = Object.values(capsOf(plan, contract)).sort((a, b) => (a.id < b.id ? -1 : 1));
    return index.sharedCaps(customer, caps, now, this.history).map((cap) => {
      const window = periodWindow(cap.period, now, this.meters.state.zone, billing);
      const c = this.counter(cap, customer, now, null);
      const used = c.periodStart === window.start ? c.used : 0;
      const spent = fromNanos(used);
      const amount = fromNanos(capNanos(cap));
      return {
        cap: cap.id,
        mode: cap.mode,
        entitlements: [...cap.entitlements],
        amount: cap.amount,
        spent: decStr(spent),
        remaining: decStr(amount.minus(spent).isNegative() ? 0 : amount.minus(spent)),
        percent: amount.isZero() ? null : spent.div(amount).times(100).toNumber(),
        periodStart: window.start,
        resetsAt: window.end >= LIFETIME.end ? null : window.end,
      };
    });
  }

  private counter(cap: CompiledCap, customer: string, now: number, slot: Slot | null): Counter {
    const index = this.meters.state.index;
    let billing = slot?.eff.billing;
    if (billing === undefined) {
      const at = index.planAt(customer, now, this.history);
      const plan = at.plan === null ? undefined : index.policy.plans[at.plan];
      billing = { interval: plan?.interval ?? "month", anchor: plan?.anchor ?? "calendar", since: at.since };
    }
    const window = periodWindow(cap.period, now, this.meters.state.zone, billing);
    // A shared cap's spend belongs to the parent or root (R7): one counter for the account tree.
    const owner = cap.scope === undefined ? customer : index.ownerOf(customer, cap.scope);
    return this.meters.extraCounter(capKey(cap.id, owner), owner, `cap:${cap.id}`, window);
  }
}
