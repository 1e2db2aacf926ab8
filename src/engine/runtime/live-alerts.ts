import { createHash, randomUUID } from "node:crypto";
import type { AlertNotification } from "../adapters/alerts/delivery.js";
import type { AlertStateStore, StateKey } from "../adapters/alerts/outbox.js";
import {
  type CustomerFigures,
  type EntitlementFigures,
  entitlementVars,
  readsCapFigures,
  readsEntitlementFigures,
  readsWalletFigures,
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
import { formatInstant, periodWindow } from "../core/periods.js";
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
const BATCH_ONLY = /\b(spend|cost|margin_percent)\b/;

/**
 * A rule the engine evaluates on its live figures: it reads none of the
 * billing run's (spend, cost, margin), and reads an entitlement's, a
 * wallet's or a spend cap's figures (or is scoped to an entitlement).
 */
export function isLiveRule(rule: CompiledRule): boolean {
  const when = rule.alert.when;
  const code = when.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return (
    !BATCH_ONLY.test(code) &&
    (rule.alert.entitlement !== null ||
      readsEntitlementFigures(when) ||
      readsWalletFigures(when) ||
      readsCapFigures(when))
  );
}

/**
 * A rule a billing run (`limitr alerts check`, `serve`'s periodic run)
 * evaluates: every rule that is not live, and rules reading `balance`, whose
 * customers without a wallet have only the billing run's credit balance.
 */
export function isBatchRule(rule: CompiledRule): boolean {
  return !isLiveRule(rule) || readsWalletFigures(rule.alert.when);
}

/** The engine's wallet and spend cap figures, read off the decision path by the live evaluation. */
export interface LiveFigures {
  /** The customer's wallet in its unit; null when the customer has none. */
  wallet(customer: string, now: number): { balance: number; available: number } | null;
  /** The fullest spend cap counting the slot's calls; null when none does. */
  slotCap(slot: Slot, now: number): { spend: number; percent: number | null } | null;
  /** The fullest of the customer's spend caps; null when it has none. */
  customerCap(customer: string, now: number): { spend: number; percent: number | null } | null;
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
    cap: null,
  };
  /** States of whole-customer rules (wallet and cap figures), by alert and customer: shared by the customer's slots. */
  private readonly customerStates = new Map<string, { periodStart: number; state: AlertState }>();
  private readonly vars = {} as AlertVars;
  private timer: NodeJS.Timeout | null = null;
  /** How long the last evaluation took (ms). */
  private lastCostMs = 0;

  /** Tells this engine's notifications from another's of the same crossing at the same instant. */
  private readonly instance = randomUUID();

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly index: PolicyIndex,
    private readonly history: PlanHistory,
    private readonly store: AlertStateStore,
    private readonly emit: (e: LiveAlertEvent) => void,
    private readonly identity: { version: number; digest: string },
    /** The slots of the policy these rules belong to (its `alertMark` is the pending flag). */
    private readonly table: SlotTable,
    private readonly live: LiveFigures | null = null,
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
        perEntitlement: rules.map(
          (r) => r.alert.entitlement !== null || readsEntitlementFigures(r.alert.when),
        ),
        wallet: rules.some((r) => readsWalletFigures(r.alert.when)),
        caps: rules.some((r) => readsCapFigures(r.alert.when)),
        base: {
          customer: slot.customer,
          plan,
          parent: contract?.parent ?? null,
          metadata: contract?.metadata ?? {},
          spend: 0,
          cost: 0,
          marginPercent: 0,
          balance: 0,
          wallet: null,
          cap: null,
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
      view.states = view.rules.map((r) =>
        this.store.state(this.key(r, slot.customer, slot.entitlement, c.periodStart)),
      );
    }
    const figures = this.figures;
    figures.entitlement = slot.entitlement;
    figures.usage = c.used;
    figures.limit = Number.isFinite(slot.limit) ? slot.limit : null;
    figures.window.start = c.periodStart;
    figures.window.end = c.periodEnd;
    const live = this.live;
    const base = view.base;
    let wallet: { balance: number; available: number } | null = null;
    if (live !== null && view.wallet) {
      wallet = live.wallet(slot.customer, now);
      base.balance = wallet === null ? 0 : wallet.balance;
      base.wallet = wallet;
    }
    if (live !== null && view.caps) {
      figures.cap = live.slotCap(slot, now);
      base.cap = live.customerCap(slot.customer, now);
    }
    let vars: AlertVars | null = null;
    let billing: { start: number; end: number } | null = null;
    for (let i = 0; i < view.rules.length; i++) {
      const rule = view.rules[i] as CompiledRule;
      // Wallet figures are the engine's only for a customer with a wallet (the billing run has the others').
      if (wallet === null && readsWalletFigures(rule.alert.when)) continue;
      if (view.perEntitlement[i] !== true) {
        billing ??= periodWindow("billing", now, this.policy.timezone, slot.eff.billing);
        this.evaluateCustomerRule(rule, slot, view, billing, now);
        continue;
      }
      const state = view.states[i] as AlertState;
      // A rule that fired this period cannot fire again until the next one.
      if (state === "triggered" && rule.alert.once === "period") continue;
      vars ??= entitlementVars(base, figures, now, this.vars);
      const next = transition(rule.alert.once, state, rule.test(vars));
      if (next.notify === null) continue;
      view.states[i] = next.state;
      this.fire(rule, slot, "", view.plan, { ...figures.window }, { ...vars }, next.state, next.notify, now);
    }
  }

  /**
   * A whole-customer rule (wallet or cap figures, no entitlement figures):
   * one state per customer and billing period, whichever slot's call
   * prompted the evaluation.
   */
  private evaluateCustomerRule(
    rule: CompiledRule,
    slot: Slot,
    view: SlotView,
    window: { start: number; end: number },
    now: number,
  ): void {
    const id = `${rule.alert.id}\u0000${slot.customer}`;
    let held = this.customerStates.get(id);
    if (held === undefined || held.periodStart !== window.start) {
      const key = {
        alert: rule.alert.id,
        customer: slot.customer,
        entitlement: "",
        periodStart: window.start,
      };
      held = { periodStart: window.start, state: this.store.state(key) };
      this.customerStates.set(id, held);
    }
    if (held.state === "triggered" && rule.alert.once === "period") return;
    const vars = entitlementVars(view.base, null, now);
    const next = transition(rule.alert.once, held.state, rule.test(vars));
    if (next.notify === null) return;
    held.state = next.state;
    this.fire(rule, slot, null, view.plan, { ...window }, vars, next.state, next.notify, now);
  }

  private key(rule: CompiledRule, customer: string, entitlement: string, periodStart: number): StateKey {
    return { alert: rule.alert.id, customer, entitlement, periodStart };
  }

  private fire(
    rule: CompiledRule,
    slot: Slot,
    /** "" for the slot's entitlement; null for a whole-customer rule. */
    scope: "" | null,
    plan: string,
    window: { start: number; end: number },
    vars: AlertVars,
    state: AlertState,
    kind: "triggered" | "resolved",
    now: number,
  ): void {
    const entitlement = scope === null ? "" : slot.entitlement;
    const key = this.key(rule, slot.customer, entitlement, window.start);
    // The engine's own instance is part of the id: on a shared store, an engine whose
    // move lost finds no row of its own (a resend after a lost reply finds its rows).
    const id = `alr_${createHash("sha256")
      .update(
        [key.alert, key.customer, key.entitlement, key.periodStart, kind, now, this.instance].join("\u0000"),
      )
      .digest("hex")
      .slice(0, 24)}`;
    const { customer: _c, plan: _p, parent: _pa, metadata: _m, entitlement: _e, ...numbers } = vars;
    const note: AlertNotification = {
      id,
      event: kind === "triggered" ? "alert.triggered" : "alert.resolved",
      alert: rule.alert.id,
      customer: slot.customer,
      plan,
      entitlement,
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
      entitlement,
      variables: vars as unknown as Record<string, unknown>,
    });
  }
}

interface SlotView {
  plan: string;
  rules: CompiledRule[];
  /** Per rule: evaluated on the slot's entitlement figures (else once per customer). */
  perEntitlement: boolean[];
  /** Some rule reads wallet figures / cap figures: fetch them before evaluating. */
  wallet: boolean;
  caps: boolean;
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
  live: LiveFigures | null = null,
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
    live,
  );
  return alerts.rules.length > 0 ? alerts : null;
}
