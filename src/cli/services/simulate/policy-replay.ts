import { MemoryEngineStore } from "limitr-engine/adapters/store/memory-store";
import type { planHistory } from "limitr-engine/adapters/store/usage-store";
import { stackKey } from "limitr-engine/core/add-ons";
import { capsFor } from "limitr-engine/core/credits/caps";
import { creditEventTypes, eventCredits } from "limitr-engine/core/credits/convert";
import { unitMeter } from "limitr-engine/core/credits/rating";
import type { CompiledCreditUnit } from "limitr-engine/core/credits/types";
import { type PlanChange, PolicyIndex } from "limitr-engine/core/engine/resolve";
import type {
  CompiledMeter,
  CompiledPlan,
  CompiledPolicy,
  MeteredEntitlement,
  PropertyValue,
} from "limitr-engine/core/model";
import { calendarWindow } from "limitr-engine/core/periods";
import { isSliding } from "limitr-engine/core/periods/spec";
import type { CustomerReplay } from "limitr-engine/core/simulate/types";
import { countWeight, meterMatches } from "limitr-engine/core/usage/meters";
import { Limitr } from "limitr-engine/runtime/limitr";

export type Props = Record<string, PropertyValue>;
type Unique = { values: Set<string>; key: string };

/** An entitlement an event type can count toward. */
interface Candidate {
  entitlement: string;
  meter: CompiledMeter;
  scope: MeteredEntitlement["scope"];
  /** The plan says `hard` (a contract override may still change that for one customer). */
  hard: boolean;
  /** Metered in a credit unit: an event adds its credits. */
  credit: CompiledCreditUnit | null;
  /** A hard spend cap of the plan or some contract counts it: the engine decides (R18). */
  capped: boolean;
  /** `mode: prepaid`: the customer's wallet may refuse it (R17): the engine decides. */
  prepaid: boolean;
}

/** R3's comparison tolerance, as the engine applies it. */
const EPS = 1e-9;

type ByPlan = Map<string, Map<string, Candidate[]>>;

/** What refuses a replayed call: a hard limit, a spend cap (R18) or the wallet (R17). */
type Refusal = "limit_exceeded" | "cap_exceeded" | "insufficient_balance";

/**
 * One policy's replay: an engine over a memory store, fed the recorded events
 * in time order. An event is denied when a hard limit refuses it, and then
 * counts nowhere (R4). Only entitlements that can refuse (hard in the plan or
 * in a contract override) are replayed, except for customers who change plans
 * during the replay: a counter belongs to the entitlement, not the plan, so
 * what they used under a soft limit still counts once a hard one applies.
 */
export class PolicyReplay {
  readonly customers = new Map<string, CustomerReplay>();
  readonly unknownPlans: string[] = [];
  private readonly index: PolicyIndex;
  private readonly history = new Map<string, PlanChange[]>();
  private readonly candidates: ByPlan = new Map();
  private readonly everything: ByPlan = new Map();
  /** Customers whose plan changes between the replay's start and end. */
  private readonly movers = new Set<string>();
  /** Entitlements a contract overrides, per customer: their effective mode is the engine's to say. */
  private readonly overridden = new Map<string, Set<string>>();
  private readonly plans = new Map<string, { plan: string | null; from: number; until: number }>();
  /** Entitlements some contract overrides to `hard`: replayed on every plan. */
  private readonly hardOverride = new Set<string>();
  /** Plans and stacks whose candidates are worked out (see `register`). */
  private readonly registered = new Set<string>();
  private readonly seen = new Map<string, { until: number | null; values: Set<string> }>();
  // Scratch space reused for every event: the replay allocates nothing per event it can avoid.
  private readonly hits: Candidate[] = [];
  private readonly amounts: number[] = [];
  private readonly uniques: (Unique | null)[] = [];
  private pendingUnique: Unique | null = null;
  private engine!: Limitr;
  private clock = 0;

  /**
   * @param skip entitlements left out of the replay: their denials are the
   *   same under both policies compared (see `unchangedEnforcement`).
   */
  constructor(
    readonly policy: CompiledPolicy,
    private readonly skip: ReadonlySet<string> = new Set(),
  ) {
    this.index = new PolicyIndex(policy);
    for (const c of Object.values(policy.customers)) {
      for (const [ent, o] of Object.entries(c.overrides)) {
        if (o.mode === "hard") this.hardOverride.add(ent);
        const set = this.overridden.get(c.id) ?? new Set<string>();
        this.overridden.set(c.id, set.add(ent));
      }
    }
    for (const [planId, plan] of Object.entries(policy.plans)) this.register(planId, plan);
  }

  /**
   * The candidates of one plan, or of one stack of a plan and its add-ons
   * (keyed by `stackKey`): what each event type can count toward under it.
   */
  private register(key: string, plan: CompiledPlan): void {
    const policy = this.policy;
    const contracts = Object.values(policy.customers);
    this.registered.add(key);
    for (const ent of Object.values(plan.entitlements)) {
      if (ent.kind !== "metered" || this.skip.has(ent.id)) continue;
      const credit = policy.creditUnits?.[ent.meter] ?? null;
      const meter = policy.meters[ent.meter] ?? (credit === null ? undefined : unitMeter(credit));
      if (!meter) continue;
      const capped = [undefined, ...contracts].some((k) =>
        capsFor(plan, k, ent.id).some((cap) => cap.mode === "hard"),
      );
      const hard = ent.mode === "hard";
      const prepaid = ent.mode === "prepaid";
      const c: Candidate = { entitlement: ent.id, meter, scope: ent.scope, hard, credit, capped, prepaid };
      const types =
        credit === null ? meter.events : creditEventTypes(credit, policy.meters, policy.creditUnits);
      add(this.everything, key, types, c);
      if (hard || capped || prepaid || this.hardOverride.has(ent.id)) add(this.candidates, key, types, c);
    }
  }

  async open(subscriptions: ReturnType<typeof planHistory>, from: number, end: number): Promise<void> {
    this.engine = await Limitr.open({
      policy: withoutRateGovernors(this.policy),
      // Keep one event: the replay reads counters, never the engine's event log.
      store: new MemoryEngineStore({ retainEvents: 1 }),
      now: () => this.clock,
      idempotencyWindow: 1,
      batch: { maxEvents: 50_000 },
      // Simulation counts denials; alert rules are not part of what it compares.
      alerts: false,
    });
    for (const [customer, rows] of subscriptions) {
      const changes: PlanChange[] = [];
      for (const row of rows) {
        if (!Object.hasOwn(this.policy.plans, row.plan)) {
          this.unknownPlans.push(`${customer}: ${row.plan}`);
          continue;
        }
        // Add-ons the policy does not define (or no longer marks as add-ons) are left out, as unknown plans are.
        const addOns = (row.addOns ?? []).filter((id) => this.policy.plans[id]?.addOn === true);
        this.engine.setPlan(customer, row.plan, { at: row.at, addOns });
        changes.push(
          addOns.length > 0 ? { at: row.at, plan: row.plan, addOns } : { at: row.at, plan: row.plan },
        );
      }
      if (changes.length > 0) this.history.set(customer, changes);
      if (changes.some((c) => c.at > from && c.at < end)) this.movers.add(customer);
    }
  }

  /** Event types some hard limit of the policy counts. */
  types(): string[] {
    const out = new Set<string>();
    for (const byType of this.candidates.values()) for (const t of byType.keys()) out.add(t);
    return [...out];
  }

  /**
   * Customers (of those the policy or the store names) whose plans between
   * `from` and `end` have no hard limit on `type`: their events of that type
   * need not even be read. Everyone else may be on the default plan.
   */
  untouched(type: string, customers: Iterable<string>, from: number, end: number): Set<string> {
    const out = new Set<string>();
    for (const customer of customers) {
      const stackAt = (ms: number) => {
        const at = this.index.planAt(customer, ms, this.history);
        return this.stackOf(at.plan, at.addOns);
      };
      const plans = [stackAt(from)];
      // planAt, not the change itself: a contract's plan wins over the store's history.
      for (const change of this.history.get(customer) ?? [])
        if (change.at > from && change.at < end) plans.push(stackAt(change.at));
      if (plans.every((p) => p === null || !this.candidates.get(p)?.has(type))) out.add(customer);
    }
    return out;
  }

  /** Earliest instant whose events shape the counters in force at `start` (longer periods need their past). */
  warmUpStart(start: number): number {
    let from = start;
    const zone = this.policy.timezone;
    for (const [planId, byType] of this.candidates) {
      const plan = this.policy.plans[planId];
      for (const list of byType.values()) {
        for (const c of list) {
          const ent = plan?.entitlements[c.entitlement];
          if (!plan || ent?.kind !== "metered") continue;
          if (ent.period === "lifetime") return -Infinity;
          if (typeof ent.period === "object") {
            // A sliding window looks back its length; an interval at most one interval, but a first use may lie anywhere before.
            if (isSliding(ent.period)) from = Math.min(from, start - ent.period.slidingMs);
            else if (ent.period.anchor === "first_use") return -Infinity;
            else from = Math.min(from, start - ent.period.everyMs);
            continue;
          }
          if (ent.period === "billing") {
            // An anniversary window starts at most one interval before the calendar one.
            const unit = plan.interval;
            from = Math.min(
              from,
              calendarWindow(unit, calendarWindow(unit, start, zone).start - 1, zone).start,
            );
          } else from = Math.min(from, calendarWindow(ent.period, start, zone).start);
        }
      }
    }
    return from;
  }

  feed(
    type: string,
    customer: string,
    ts: number,
    value: number | null,
    props: Props | null,
    tally: boolean,
  ): void {
    const plan = this.planOf(customer, ts);
    const byPlan = this.movers.has(customer) ? this.everything : this.candidates;
    const candidates = plan === null ? undefined : byPlan.get(plan)?.get(type);
    if (candidates === undefined) return;
    this.clock = ts;
    const { hits, amounts, uniques } = this;
    let n = 0;
    for (const c of candidates) {
      if (c.credit === null && !meterMatches(c.meter, type, props)) continue;
      const amount = this.amount(c, type, customer, ts, value, props);
      if (amount === null || amount === 0) continue;
      hits[n] = c;
      amounts[n] = amount;
      uniques[n] = this.pendingUnique;
      this.pendingUnique = null;
      n++;
    }
    if (n === 0) return;
    // All or nothing (R4): with several limits in play, every one is checked before anything is counted.
    if (n > 1) {
      for (let i = 0; i < n; i++) {
        const c = hits[i] as Candidate;
        const amount = amounts[i] as number;
        const refusal = amount > 0 ? this.wouldRefuse(customer, c, amount, ts) : null;
        if (refusal !== null) {
          this.deny(customer, c.entitlement, tally, refusal);
          return;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      const c = hits[i] as Candidate;
      const amount = amounts[i] as number;
      if (!this.engine.allow(customer, c.entitlement, amount, { now: ts })) {
        const refusal = this.refusedByLimit(customer, c.entitlement, amount, ts);
        if (refusal !== null) {
          this.deny(customer, c.entitlement, tally, refusal);
          return;
        }
        continue;
      }
      const u = uniques[i];
      if (u) u.values.add(u.key);
    }
  }

  async close(): Promise<void> {
    await this.engine?.close();
  }

  /** Why `allow` said no: only a limit is a denial (an entitlement the plan lacks just counts nothing). */
  /**
   * Would a limit refuse `amount` now (counting nothing)? A plain hard limit is
   * compared from `usage()`; `check()` would price the call in decimals for
   * nothing. Anything a contract overrides is asked of the engine itself.
   */
  private wouldRefuse(customer: string, c: Candidate, amount: number, ts: number): Refusal | null {
    if (c.capped || c.prepaid || this.overridden.get(customer)?.has(c.entitlement))
      return this.refusedByLimit(customer, c.entitlement, amount, ts);
    if (!c.hard) return null;
    const u = this.engine.usage(customer, c.entitlement, { now: ts });
    return u.limit !== null && u.used + u.held + amount > u.limit + EPS ? "limit_exceeded" : null;
  }

  /** Why the engine refuses the call, when it is a limit, a cap or a wallet (else null). */
  private refusedByLimit(customer: string, entitlement: string, amount: number, ts: number): Refusal | null {
    const reason = this.engine.check(customer, entitlement, amount, { now: ts }).reason;
    return reason === "limit_exceeded" || reason === "cap_exceeded" || reason === "insufficient_balance"
      ? reason
      : null;
  }

  private deny(customer: string, entitlement: string, tally: boolean, why: Refusal): void {
    if (!tally) return;
    let t = this.customers.get(customer);
    if (!t) this.customers.set(customer, (t = { denied: 0, deniedBy: {}, ranDry: 0, capped: 0 }));
    t.denied += 1;
    t.deniedBy[entitlement] = (t.deniedBy[entitlement] ?? 0) + 1;
    if (why === "insufficient_balance") t.ranDry += 1;
    else if (why === "cap_exceeded") t.capped += 1;
  }

  /** The plan (or stack of a plan and add-ons) in force, cached per customer over the span the answer holds. */
  private planOf(customer: string, ts: number): string | null {
    const hit = this.plans.get(customer);
    if (hit !== undefined && ts >= hit.from && ts < hit.until) return hit.plan;
    const at = this.index.planAt(customer, ts, this.history);
    const plan = this.stackOf(at.plan, at.addOns);
    this.plans.set(customer, { plan, from: at.from, until: at.until });
    return plan;
  }

  /** The key candidates are kept under for a plan with add-ons, registering the stack on first sight. */
  private stackOf(plan: string | null, addOns: readonly string[]): string | null {
    if (plan === null || addOns.length === 0) return plan;
    const key = stackKey(plan, addOns);
    if (!this.registered.has(key)) {
      const stacked = this.index.stacked(plan, addOns);
      if (stacked) this.register(key, stacked);
    }
    return key;
  }

  /** Units the event adds to the entitlement's counter, as the meter aggregates; null when it carries no value. */
  private amount(
    c: Candidate,
    type: string,
    customer: string,
    ts: number,
    value: number | null,
    props: Props | null,
  ): number | null {
    const m = c.meter;
    if (c.credit !== null) {
      const p = this.policy;
      return eventCredits(c.credit, p.meters, { type, value, properties: props }, p.creditUnits).toNumber();
    }
    if (m.aggregation === "count") return countWeight(value);
    const raw = m.property === null ? value : props?.[m.property];
    if (m.aggregation === "unique_count") {
      if (raw === undefined || raw === null) return null;
      // The engine counts what it is told: distinct values are tracked here, per counter owner and period.
      const resetsAt = this.engine.usage(customer, c.entitlement, { now: ts }).resetsAt;
      const owner = `${c.entitlement}|${this.index.ownerOf(customer, c.scope)}`;
      let seen = this.seen.get(owner);
      if (!seen || seen.until !== resetsAt)
        this.seen.set(owner, (seen = { until: resetsAt, values: new Set() }));
      const key = String(raw);
      if (seen.values.has(key)) return 0;
      this.pendingUnique = { values: seen.values, key };
      return 1;
    }
    const v =
      typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
    if (!Number.isFinite(v)) return null;
    if (m.aggregation === "sum") return v;
    const used = this.engine.usage(customer, c.entitlement, { now: ts }).used;
    return m.aggregation === "max" ? Math.max(0, v - used) : v - used;
  }
}

function add(byPlan: ByPlan, plan: string, types: readonly string[], c: Candidate): void {
  let byType = byPlan.get(plan);
  if (!byType) byPlan.set(plan, (byType = new Map()));
  for (const type of types) {
    const list = byType.get(type);
    if (list) list.push(c);
    else byType.set(type, [c]);
  }
}

/**
 * The policy the replay engine runs: burst governors (`rate`) removed. Recorded
 * timestamps say when work was done, not how a client would have paced its
 * retries, so only limits are replayed.
 */
function withoutRateGovernors(policy: CompiledPolicy): CompiledPolicy {
  const plans: CompiledPolicy["plans"] = {};
  for (const [id, plan] of Object.entries(policy.plans)) {
    const entitlements: typeof plan.entitlements = {};
    for (const [e, ent] of Object.entries(plan.entitlements))
      entitlements[e] = ent.kind === "metered" && ent.rate !== null ? { ...ent, rate: null } : ent;
    plans[id] = { ...plan, entitlements };
  }
  return { ...policy, plans };
}
