import { createHash } from "node:crypto";
import { type CustomerFigures, entitlementVars, readsEntitlementFigures } from "../core/alerts/evaluate.js";
import { type AlertState, type CompiledRule, compileRules, ruleApplies, transition } from "../core/alerts/rules.js";
import type { PlanHistory, PolicyIndex } from "../core/engine/resolve.js";
import type { CompiledPolicy } from "../core/model.js";
import { formatInstant } from "../core/periods.js";
import type { AlertNotification } from "../adapters/alerts/delivery.js";
import type { StateKey } from "../adapters/alerts/outbox.js";
import type { Slot } from "./slot.js";

/** Where rule state lives: the usage store (restart-safe) or, for the memory store, this process. */
export interface AlertStateStore {
  state(key: StateKey): AlertState;
  record(key: StateKey, state: AlertState, note: AlertNotification | null, channels: string[], now: number): void;
}

export interface LiveAlertEvent {
  id: string;
  kind: "triggered" | "resolved";
  alert: string;
  customer: string;
  entitlement: string;
  variables: Record<string, unknown>;
}

/** Figures only a billing run knows: rules reading them are evaluated by `limitr alerts check`, not live. */
const BATCH_ONLY = /\b(spend|cost|margin_percent|balance)\b/;

export function isLiveRule(rule: CompiledRule): boolean {
  const code = rule.alert.when.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return !BATCH_ONLY.test(code) && (rule.alert.entitlement !== null || readsEntitlementFigures(rule.alert.when));
}

/** In-process state for engines without a SQL store. */
export class MemoryAlertState implements AlertStateStore {
  private readonly states = new Map<string, AlertState>();
  state(key: StateKey): AlertState {
    return this.states.get(keyText(key)) ?? "armed";
  }
  record(key: StateKey, state: AlertState): void {
    this.states.set(keyText(key), state);
  }
}

function keyText(k: StateKey): string {
  return `${k.alert}\u0000${k.customer}\u0000${k.entitlement}\u0000${k.periodStart}`;
}

/**
 * Alert rules evaluated on live counters. A counted call only marks its slot
 * (one boolean test and, the first time, one array push); the rules of the
 * marked slots are evaluated afterwards, off the decision path, on a short
 * timer or at `flush()`. Rules reading spend, cost, margin or balance need a
 * billing run and are left to `limitr alerts check`.
 */
export class LiveAlerts {
  readonly rules: CompiledRule[];
  private dirty: Slot[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly index: PolicyIndex,
    private readonly history: PlanHistory,
    private readonly store: AlertStateStore,
    private readonly emit: (e: LiveAlertEvent) => void,
    private readonly identity: { version: number; digest: string },
    private readonly intervalMs = 250,
  ) {
    this.rules = compileRules(policy).filter(isLiveRule);
  }

  /** Called after a counted call: remember the slot for the next evaluation. */
  touch(slot: Slot): void {
    if (slot.alertPending) return;
    slot.alertPending = true;
    this.dirty.push(slot);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.evaluate(Date.now()), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Evaluate every marked slot's rules as of `now`. */
  evaluate(now: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const slots = this.dirty;
    this.dirty = [];
    for (const slot of slots) {
      slot.alertPending = false;
      this.evaluateSlot(slot, now);
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private evaluateSlot(slot: Slot, now: number): void {
    const c = slot.counter;
    if (c === null) return;
    const plan = this.index.planAt(slot.customer, now, this.history).plan;
    if (plan === null) return;
    const contract = this.policy.customers[slot.customer];
    const base: CustomerFigures = {
      customer: slot.customer,
      plan,
      parent: contract?.parent ?? null,
      metadata: contract?.metadata ?? {},
      spend: 0,
      cost: 0,
      marginPercent: 0,
      balance: 0,
      entitlements: [],
    };
    const window = { start: c.periodStart, end: c.periodEnd };
    const figures = {
      entitlement: slot.entitlement,
      usage: c.used,
      limit: Number.isFinite(slot.limit) ? slot.limit : null,
      window,
    };
    for (const rule of this.rules) {
      if (!ruleApplies(rule.alert, slot.customer, plan, slot.entitlement)) continue;
      const vars = entitlementVars(base, figures, now);
      const holds = rule.test(vars);
      const key = { alert: rule.alert.id, customer: slot.customer, entitlement: slot.entitlement, periodStart: window.start };
      const next = transition(rule.alert.once, this.store.state(key), holds);
      if (next.notify === null) continue;
      const id = `alr_${createHash("sha256")
        .update([key.alert, key.customer, key.entitlement, key.periodStart, next.notify, now].join("\u0000"))
        .digest("hex")
        .slice(0, 24)}`;
      const { customer: _c, plan: _p, parent: _pa, metadata: _m, entitlement: _e, ...numbers } = vars;
      const note: AlertNotification = {
        id,
        event: next.notify === "triggered" ? "alert.triggered" : "alert.resolved",
        alert: rule.alert.id,
        customer: slot.customer,
        plan,
        entitlement: slot.entitlement,
        period: { start: formatInstant(window.start, this.policy.timezone), end: formatInstant(window.end, this.policy.timezone) },
        figures: numbers,
        createdAt: new Date(now).toISOString(),
        version: this.identity.version,
        digest: this.identity.digest,
      };
      this.store.record(key, next.state, note, rule.alert.channels, now);
      this.emit({ id, kind: next.notify, alert: rule.alert.id, customer: slot.customer, entitlement: slot.entitlement, variables: vars as unknown as Record<string, unknown> });
    }
  }
}
