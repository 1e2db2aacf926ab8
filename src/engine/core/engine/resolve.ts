import { scopeOwner } from "../accounts.js";
import { stackedPlan, stackKey } from "../add-ons.js";
import { capsFor, capsOf } from "../credits/caps.js";
import { unitMeter } from "../credits/rating.js";
import type { CompiledCap, CompiledCreditUnit } from "../credits/types.js";
import { planInCurrency } from "../currencies.js";
import type {
  Anchor,
  ChargeModel,
  CompiledCustomer,
  CompiledMeter,
  CompiledPlan,
  CompiledPolicy,
  EnforcementMode,
  Interval,
  IsoDate,
  MeteredEntitlement,
  PeriodSpec,
  RateGovernor,
} from "../model.js";
import { endOfDate, isoDate } from "../periods.js";
import type { Reason } from "./decision.js";

/** One plan-history entry: from `at` (epoch ms) on, the customer is on `plan` with `addOns` (sorted; absent = none). */
export interface PlanChange {
  at: number;
  plan: string;
  addOns?: readonly string[];
}

/** Plan history per customer, each list sorted by `at`. */
export type PlanHistory = ReadonlyMap<string, readonly PlanChange[]>;

/** A customer's plan at an instant, and the span of time over which that answer holds. */
export interface PlanAt {
  plan: string | null;
  /** Add-on plans held on top of `plan` (SPEC §15), sorted. */
  addOns: readonly string[];
  from: number;
  until: number;
  /** Anniversary anchor: the contract's `since`, else the day of the first stored plan change. */
  since: IsoDate | null;
}

/** The entitlement as it applies to one customer at one instant: plan, overrides and scope resolved. */
export interface EffectiveEntitlement {
  /** null when the call can be metered; otherwise why it cannot (flags: feature_enabled / feature_disabled). */
  reason: Reason | null;
  customer: string;
  entitlement: string;
  /** Customer whose counter is charged (`scope: parent|root`, R7). */
  owner: string;
  meter: CompiledMeter | null;
  /** Infinity when unlimited. */
  limit: number;
  mode: EnforcementMode;
  price: ChargeModel | null;
  period: PeriodSpec;
  billing: { interval: Interval; anchor: Anchor; since: IsoDate | null };
  /** When the plan in force started (-Infinity without plan history): `subscription` intervals count from it. */
  planFrom: number;
  rate: RateGovernor | null;
  /** The credit unit the entitlement is metered in (its `meter`); null for a plain meter. */
  credit: CompiledCreditUnit | null;
  /** Spend caps counting this entitlement for this customer (R18); usually none. */
  caps: readonly CompiledCap[];
  /** The answer holds for now in [validFrom, validUntil): plan changes and override expiry bound it. */
  validFrom: number;
  validUntil: number;
}

const NO_BILLING = { interval: "month", anchor: "calendar", since: null } as const;
const NONE: readonly string[] = Object.freeze([]);

/**
 * Resolves customers and entitlements against one compiled policy (R1, R7,
 * overrides). Pure: the plan history and the instant are passed in.
 *
 * @example
 * const index = new PolicyIndex(policy);
 * index.entitlement("acme", "chat", Date.parse("2026-10-05T12:00:00Z"), history).limit
 */
export class PolicyIndex {
  private readonly known: Set<string>;
  private readonly days = new Map<number, IsoDate>();
  /** Stacked plans (base + add-ons) by `stackKey`, built once each. */
  private readonly stacks = new Map<string, CompiledPlan | undefined>();

  constructor(
    readonly policy: CompiledPolicy,
    /** The currency recorded for a customer outside the policy (the store's); a contract's wins. */
    private readonly recordedCurrency: (customer: string) => string | undefined = () => undefined,
  ) {
    this.known = new Set();
    for (const plan of Object.values(policy.plans))
      for (const id of Object.keys(plan.entitlements)) this.known.add(id);
  }

  /** The customer's currency when it is not the policy's: the contract's, else the one the store records. */
  currencyOf(customer: string): string | undefined {
    return this.contract(customer)?.currency ?? this.recordedCurrency(customer);
  }

  /** Some plan of the policy defines this entitlement id. */
  defines(entitlement: string): boolean {
    return this.known.has(entitlement);
  }

  /** Every entitlement id some plan defines. */
  entitlementIds(): string[] {
    return [...this.known];
  }

  /** The plan in force for `customer` at `now`: a contract's plan wins over the store; else history; else the default plan. */
  planAt(customer: string, now: number, history: PlanHistory): PlanAt {
    const contract = this.contract(customer);
    const changes = history.get(customer);
    const since = contract?.since ?? (changes?.[0] ? this.dayOf(changes[0].at) : null);
    if (contract?.plan)
      return {
        plan: contract.plan,
        addOns: contract.addOns ?? NONE,
        from: -Infinity,
        until: Infinity,
        since,
      };
    let from = -Infinity;
    let until = Infinity;
    let plan: string | null = this.policy.defaultPlan;
    let addOns: readonly string[] = NONE;
    if (changes) {
      for (const change of changes) {
        if (change.at > now) {
          until = change.at;
          break;
        }
        from = change.at;
        plan = change.plan;
        addOns = change.addOns ?? NONE;
      }
    }
    return { plan, addOns, from, until, since };
  }

  /** The plan a customer on `plan` with `addOns` is entitled to: the base with the add-ons stacked on it. */
  stacked(plan: string, addOns: readonly string[]): CompiledPlan | undefined {
    if (addOns.length === 0)
      return Object.hasOwn(this.policy.plans, plan) ? this.policy.plans[plan] : undefined;
    const key = stackKey(plan, addOns);
    if (!this.stacks.has(key)) this.stacks.set(key, stackedPlan(this.policy.plans, plan, addOns));
    return this.stacks.get(key);
  }

  /** The calendar day of an instant; memoized, because time-zone conversion dominates a plan lookup otherwise. */
  private dayOf(ms: number): IsoDate {
    let day = this.days.get(ms);
    if (day === undefined) {
      day = isoDate(ms, this.policy.timezone);
      this.days.set(ms, day);
    }
    return day;
  }

  /** The customer whose counter a `scope` charges: self, the parent, or the root of the account tree. */
  ownerOf(customer: string, scope: MeteredEntitlement["scope"]): string {
    return scopeOwner(this.policy.customers, customer, scope);
  }

  /** Resolve `entitlement` for `customer` at `now` (R1, R2, R7, overrides with `expires`). */
  entitlement(
    customer: string,
    entitlement: string,
    now: number,
    history: PlanHistory,
  ): EffectiveEntitlement {
    const own = this.local(customer, entitlement, now, history);
    if (own.reason !== null || own.owner === customer) return own;
    // Shared counters take the owner's terms so every descendant sees the same limit and remaining (R7).
    const owner = this.local(own.owner, entitlement, now, history);
    if (owner.reason !== null || owner.meter === null) return own;
    return {
      ...owner,
      customer,
      owner: own.owner,
      rate: own.rate,
      caps: own.caps,
      validFrom: Math.max(own.validFrom, owner.validFrom),
      validUntil: Math.min(own.validUntil, owner.validUntil),
    };
  }

  private local(customer: string, id: string, now: number, history: PlanHistory): EffectiveEntitlement {
    const at = this.planAt(customer, now, history);
    const base: EffectiveEntitlement = {
      reason: null,
      customer,
      entitlement: id,
      owner: customer,
      meter: null,
      limit: Infinity,
      mode: "hard",
      price: null,
      period: "month",
      billing: NO_BILLING,
      planFrom: at.from,
      rate: null,
      credit: null,
      caps: [],
      validFrom: at.from,
      validUntil: at.until,
    };
    if (!this.known.has(id)) return { ...base, reason: "unknown_entitlement" };
    if (at.plan === null) return { ...base, reason: "unknown_customer" };
    const stacked = this.stacked(at.plan, at.addOns);
    // Prices and caps in the customer's currency (a contract's `currency`, else the one the store records);
    // no price list there = no plan to price with.
    const currency = this.currencyOf(customer);
    const plan = stacked && currency !== undefined ? planInCurrency(this.policy, stacked, currency) : stacked;
    if (!plan) return { ...base, reason: "unknown_plan" };
    const ent = plan.entitlements[id];
    if (!ent) return { ...base, reason: "not_entitled" };
    if (ent.kind === "flag") return { ...base, reason: ent.enabled ? "feature_enabled" : "feature_disabled" };
    const credit = this.policy.creditUnits?.[ent.meter] ?? null;
    const meter = this.policy.meters[ent.meter] ?? (credit === null ? null : unitMeter(credit));
    if (meter === null) return { ...base, reason: "unknown_entitlement" };
    const out: EffectiveEntitlement = {
      ...base,
      owner: this.ownerOf(customer, ent.scope),
      meter,
      limit: ent.limit ?? Infinity,
      mode: ent.mode,
      price: ent.price,
      period: ent.period,
      billing: { interval: plan.interval, anchor: plan.anchor, since: at.since },
      rate: ent.rate,
      credit,
      caps: this.sharedCaps(customer, capsFor(plan, this.contract(customer), id), now, history),
    };
    const override = this.contract(customer)?.overrides[id];
    if (override) {
      const end = override.expires === null ? Infinity : endOfDate(override.expires, this.policy.timezone);
      if (now < end) {
        if (override.limit !== undefined) out.limit = override.limit ?? Infinity;
        if (override.mode !== undefined) out.mode = override.mode;
        if (override.price !== undefined) out.price = override.price;
        out.validUntil = Math.min(out.validUntil, end);
      } else out.validFrom = Math.max(out.validFrom, end);
    }
    return out;
  }

  /**
   * A cap shared up the account tree (`scope: parent|root`, R7) takes its
   * owner's terms when the owner's plan or contract has a cap of that name,
   * so every descendant checks one amount against one spend.
   */
  sharedCaps(
    customer: string,
    caps: readonly CompiledCap[],
    now: number,
    history: PlanHistory,
  ): readonly CompiledCap[] {
    if (caps.every((c) => c.scope === undefined)) return caps;
    return caps.map((cap) => {
      if (cap.scope === undefined) return cap;
      const owner = this.ownerOf(customer, cap.scope);
      if (owner === customer) return cap;
      const at = this.planAt(owner, now, history);
      const plan = at.plan === null ? undefined : this.policy.plans[at.plan];
      const theirs = plan === undefined ? undefined : capsOf(plan, this.contract(owner))[cap.id];
      return theirs === undefined ? cap : { ...theirs, scope: cap.scope, entitlements: cap.entitlements };
    });
  }

  private contract(customer: string): CompiledCustomer | undefined {
    return Object.hasOwn(this.policy.customers, customer) ? this.policy.customers[customer] : undefined;
  }
}
