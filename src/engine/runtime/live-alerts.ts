import { createHash } from "node:crypto";
import type { AlertNotification } from "../adapters/alerts/delivery.js";
import type { AlertStateStore, StateKey } from "../adapters/alerts/outbox.js";
import {
  type CustomerFigures,
  type EntitlementFigures,
  entitlementVars,
  readsEntitlementFigures,
} from "../core/alerts/evaluate.js";
import {
  type AlertState,
  type AlertVars,
  type CompiledRule,
  compileRules,
  ruleApplies,
  transition,
} from "../core/alerts/rules.js";
import type { PlanHistory, PolicyIndex } from "../core/engine/resolve.js";
import type { CompiledPolicy } from "../core/model.js";
import { formatInstant } from "../core/periods.js";
import type { Notifier } from "./events.js";
import type { PolicyState } from "./policy-state.js";
import type { Slot, SlotTable } from "./slot.js";

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
  return (
    !BATCH_ONLY.test(code) && (rule.alert.entitlement !== null || readsEntitlementFigures(rule.alert.when))
  );
}

/**
 * Alert rules evaluated on live counters. A counted call only marks its slot
 * (one boolean test and, the first time, one array push); the rules of the
 * marked slots are evaluated afterwards, off the decision path, on a short
 * timer or at `flush()`. Rules reading spend, cost, margin or balance need a
 * billing run and are left to `limitr alerts check`.
 *
 * The timer waits `intervalMs`, or longer when the last evaluation was long:
 * at least LOAD_FACTOR times its duration. So evaluation takes at most about
 * 1/LOAD_FACTOR of the process's time, however many slots a busy engine marks;
 * under such load an alert comes a little later instead of slowing decisions.
 */
/** The live evaluation's share of time is kept under 1/LOAD_FACTOR (see LiveAlerts). */
const LOAD_FACTOR = 40;

export class LiveAlerts {
  readonly rules: CompiledRule[];
  /** Slots marked since the last evaluation, and the time of the call that marked each. */
  private dirty: Slot[] = [];
  private dirtyAt: number[] = [];
  /** Scratch objects reused by every evaluation: a live engine evaluates often and fires rarely. */
  private readonly figures: EntitlementFigures = {
    entitlement: "",
    usage: 0,
    limit: null,
    window: { start: 0, end: 0 },
  };
  private readonly vars = {} as AlertVars;
  private timer: NodeJS.Timeout | null = null;
  /** How long the last evaluation took (ms). */
  private lastCostMs = 0;

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly index: PolicyIndex,
    private readonly history: PlanHistory,
    private readonly store: AlertStateStore,
    private readonly emit: (e: LiveAlertEvent) => void,
    private readonly identity: { version: number; digest: string },
    /** The slots of the policy these rules belong to (its `alertMark` is the pending flag). */
    private readonly table: SlotTable,
    private readonly intervalMs = 250,
  ) {
    this.rules = compileRules(policy).filter(isLiveRule);
  }

  /**
   * Called after a counted call at `now`: remember the slot for the next
   * evaluation. Only the first call since the last evaluation writes anything
   * (the decision path pays one boolean read after that); the evaluation runs
   * as of that call, at most one timer interval stale.
   */
  touch(sid: number, now: number): void {
    const slot = this.table.slots[sid];
    // Gone when a listener changed a plan while the call was being counted (the table was emptied).
    if (slot === undefined) return;
    this.table.alertMark[sid] = 1;
    this.dirty.push(slot);
    this.dirtyAt.push(now);
    if (this.timer === null) {
      this.timer = setTimeout(
        () => this.evaluate(),
        Math.max(this.intervalMs, this.lastCostMs * LOAD_FACTOR),
      );
      this.timer.unref();
    }
  }

  /** Evaluate every marked slot's rules, each as of the call that marked it. */
  evaluate(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const slots = this.dirty;
    const at = this.dirtyAt;
    this.dirty = [];
    this.dirtyAt = [];
    const marks = this.table.alertMark;
    const started = performance.now();
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      // A slot left over from before a plan change may clear its successor's mark: that one is in `slots` too.
      marks[slot.sid] = 0;
      this.evaluateSlot(slot, at[i] as number);
    }
    this.lastCostMs = performance.now() - started;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** What a slot's evaluations share: its rules, fixed figures and the rules' states this period. */
  private view(slot: Slot, now: number): SlotView | null {
    let view = slot.alertView as SlotView | null;
    if (view === null) {
      // A slot is rebuilt when the customer's plan changes, so its plan holds for the slot's life.
      const plan = this.index.planAt(slot.customer, now, this.history).plan;
      if (plan === null) return null;
      const contract = this.policy.customers[slot.customer];
      const rules = this.rules.filter((r) => ruleApplies(r.alert, slot.customer, plan, slot.entitlement));
      view = {
        plan,
        rules,
        base: {
          customer: slot.customer,
          plan,
          parent: contract?.parent ?? null,
          metadata: contract?.metadata ?? {},
          spend: 0,
          cost: 0,
          marginPercent: 0,
          balance: 0,
          entitlements: [],
        },
        periodStart: Number.NaN,
        states: [],
      };
      slot.alertView = view;
    }
    return view;
  }

  private evaluateSlot(slot: Slot, now: number): void {
    const c = slot.counter;
    if (c === null) return;
    const view = this.view(slot, now);
    if (view === null || view.rules.length === 0) return;
    if (view.periodStart !== c.periodStart) {
      // A new period: each rule's state comes from the store once, then lives here.
      view.periodStart = c.periodStart;
      view.states = view.rules.map((r) => this.store.state(this.key(r, slot, c.periodStart)));
    }
    const figures = this.figures;
    figures.entitlement = slot.entitlement;
    figures.usage = c.used;
    figures.limit = Number.isFinite(slot.limit) ? slot.limit : null;
    figures.window.start = c.periodStart;
    figures.window.end = c.periodEnd;
    let vars: AlertVars | null = null;
    for (let i = 0; i < view.rules.length; i++) {
      const rule = view.rules[i] as CompiledRule;
      const state = view.states[i] as AlertState;
      // A rule that fired this period cannot fire again until the next one.
      if (state === "triggered" && rule.alert.once === "period") continue;
      vars ??= entitlementVars(view.base, figures, now, this.vars);
      const next = transition(rule.alert.once, state, rule.test(vars));
      if (next.notify === null) continue;
      view.states[i] = next.state;
      this.fire(rule, slot, view.plan, { ...figures.window }, { ...vars }, next.state, next.notify, now);
    }
  }

  private key(rule: CompiledRule, slot: Slot, periodStart: number): StateKey {
    return { alert: rule.alert.id, customer: slot.customer, entitlement: slot.entitlement, periodStart };
  }

  private fire(
    rule: CompiledRule,
    slot: Slot,
    plan: string,
    window: { start: number; end: number },
    vars: AlertVars,
    state: AlertState,
    kind: "triggered" | "resolved",
    now: number,
  ): void {
    const key = this.key(rule, slot, window.start);
    const id = `alr_${createHash("sha256")
      .update([key.alert, key.customer, key.entitlement, key.periodStart, kind, now].join("\u0000"))
      .digest("hex")
      .slice(0, 24)}`;
    const { customer: _c, plan: _p, parent: _pa, metadata: _m, entitlement: _e, ...numbers } = vars;
    const note: AlertNotification = {
      id,
      event: kind === "triggered" ? "alert.triggered" : "alert.resolved",
      alert: rule.alert.id,
      customer: slot.customer,
      plan,
      entitlement: slot.entitlement,
      period: {
        start: formatInstant(window.start, this.policy.timezone),
        end: formatInstant(window.end, this.policy.timezone),
      },
      figures: numbers,
      createdAt: new Date(now).toISOString(),
      version: this.identity.version,
      digest: this.identity.digest,
    };
    this.store.record(key, state, note, rule.alert.channels, now);
    this.emit({
      id,
      kind,
      alert: rule.alert.id,
      customer: slot.customer,
      entitlement: slot.entitlement,
      variables: vars as unknown as Record<string, unknown>,
    });
  }
}

interface SlotView {
  plan: string;
  rules: CompiledRule[];
  base: CustomerFigures;
  periodStart: number;
  states: AlertState[];
}

/**
 * The live evaluator for one active policy, reporting through the engine's
 * `alert` event; null when the policy has no rule worth watching live.
 */
export function liveAlertsFor(
  state: PolicyState,
  history: PlanHistory,
  store: AlertStateStore,
  notifier: Notifier,
): LiveAlerts | null {
  const alerts = new LiveAlerts(
    state.policy,
    state.index,
    history,
    store,
    (e) =>
      notifier.emit("alert", {
        ...e,
        entitlement: e.entitlement || null,
        version: state.version,
        digest: state.digest,
      }),
    { version: state.version, digest: state.digest },
    state.table,
  );
  return alerts.rules.length > 0 ? alerts : null;
}
