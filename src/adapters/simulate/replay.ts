import { type PlanChange, PolicyIndex } from "../../core/engine/resolve.js";
import type { CompiledMeter, CompiledPolicy, MeteredEntitlement, PropertyValue } from "../../core/model.js";
import { calendarWindow, type Window } from "../../core/periods.js";
import type { CustomerReplay, ReplayOutcome } from "../../core/simulate/types.js";
import { meterMatches } from "../../core/usage/meters.js";
import { Limitr } from "../../engine/limitr.js";
import type { Db } from "../store/database.js";
import { MemoryEngineStore } from "../store/memory-store.js";
import { planHistory } from "../store/usage-store.js";
import { countEvents, eventsInOrder } from "./event-stream.js";

type Props = Record<string, PropertyValue>;

interface Candidate {
  entitlement: string;
  meter: CompiledMeter;
  scope: MeteredEntitlement["scope"];
  /** Hard somewhere (the plan or a contract override): only then can a limit refuse the event. */
  mayDeny: boolean;
}

export interface ReplayOptions {
  /** Called every `progressEvery` events (default 250,000) and once at the end. */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

/**
 * One policy's replay: an engine over a memory store, fed the recorded events
 * in time order. Each event is checked against every hard entitlement it
 * would count toward (`check` counts nothing); if a limit refuses it, it is
 * a denial and counts nothing (R4), else it is `record`ed as it happened.
 */
class PolicyReplay {
  readonly customers = new Map<string, CustomerReplay>();
  readonly unknownPlans: string[] = [];
  private readonly index: PolicyIndex;
  private readonly history = new Map<string, PlanChange[]>();
  private readonly candidates = new Map<string, Map<string, Candidate[]>>();
  private readonly uniques = new Map<string, { until: number | null; values: Set<string> }>();
  private engine!: Limitr;
  private clock = 0;

  constructor(readonly policy: CompiledPolicy) {
    this.index = new PolicyIndex(policy);
    const hardOverride = new Set<string>();
    for (const c of Object.values(policy.customers))
      for (const [ent, o] of Object.entries(c.overrides)) if (o.mode === "hard") hardOverride.add(ent);
    for (const [planId, plan] of Object.entries(policy.plans)) {
      const byType = new Map<string, Candidate[]>();
      for (const ent of Object.values(plan.entitlements)) {
        if (ent.kind !== "metered") continue;
        const meter = policy.meters[ent.meter];
        if (!meter) continue;
        const mayDeny = ent.mode === "hard" || hardOverride.has(ent.id);
        for (const type of meter.events) {
          const list = byType.get(type) ?? [];
          list.push({ entitlement: ent.id, meter, scope: ent.scope, mayDeny });
          byType.set(type, list);
        }
      }
      this.candidates.set(planId, byType);
    }
  }

  async open(subscriptions: ReturnType<typeof planHistory>): Promise<void> {
    this.engine = await Limitr.open({
      policy: this.policy,
      // Keep one event: the replay reads counters, never the engine's event log.
      store: new MemoryEngineStore({ retainEvents: 1 }),
      now: () => this.clock,
      idempotencyWindow: 1,
      batch: { maxEvents: 50_000 },
    });
    for (const [customer, rows] of subscriptions) {
      const changes: PlanChange[] = [];
      for (const row of rows) {
        if (!Object.hasOwn(this.policy.plans, row.plan)) {
          this.unknownPlans.push(`${customer}: ${row.plan}`);
          continue;
        }
        this.engine.setPlan(customer, row.plan, { at: row.at });
        changes.push({ at: row.at, plan: row.plan });
      }
      if (changes.length > 0) this.history.set(customer, changes);
    }
  }

  /** Event types any plan of the policy meters. */
  types(): string[] {
    const out = new Set<string>();
    for (const byType of this.candidates.values()) for (const t of byType.keys()) out.add(t);
    return [...out];
  }

  /** Earliest instant whose events shape the counters in force at `start` (longer periods need their past). */
  warmUpStart(start: number): number {
    let from = start;
    const zone = this.policy.timezone;
    for (const plan of Object.values(this.policy.plans)) {
      for (const ent of Object.values(plan.entitlements)) {
        if (ent.kind !== "metered") continue;
        if (ent.period === "lifetime") return -Infinity;
        if (ent.period === "billing") {
          // An anniversary window starts at most one interval before the calendar one.
          const unit = plan.interval;
          from = Math.min(from, calendarWindow(unit, calendarWindow(unit, start, zone).start - 1, zone).start);
        } else from = Math.min(from, calendarWindow(ent.period, start, zone).start);
      }
    }
    return from;
  }

  feed(type: string, customer: string, ts: number, value: number | null, props: Props | null, tally: boolean): void {
    this.clock = ts;
    const plan = this.index.planAt(customer, ts, this.history).plan;
    const candidates = plan === null ? undefined : this.candidates.get(plan)?.get(type);
    if (candidates === undefined) return;
    let pending: { values: Set<string>; key: string }[] | null = null;
    for (const c of candidates) {
      if (!meterMatches(c.meter, type, props)) continue;
      const amount = this.amount(c, customer, ts, value, props);
      if (amount === null) continue;
      if (typeof amount !== "number") {
        (pending ??= []).push(amount.unique);
        if (amount.n === 0 || !c.mayDeny) continue;
      } else if (amount <= 0 || !c.mayDeny) continue;
      const n = typeof amount === "number" ? amount : amount.n;
      const d = this.engine.check(customer, c.entitlement, n, { now: ts });
      if (d.reason === "limit_exceeded") {
        if (tally) {
          const t = this.tally(customer);
          t.denied += 1;
          t.deniedBy[c.entitlement] = (t.deniedBy[c.entitlement] ?? 0) + 1;
        }
        return;
      }
    }
    const r = this.engine.record({ type, customer, timestamp: ts, value: value ?? undefined, properties: props ?? undefined });
    if (pending !== null) for (const p of pending) p.values.add(p.key);
    if (!tally) return;
    for (const counted of r.counted) {
      if (counted.overage <= 0) continue;
      const t = this.tally(customer);
      t.overageUnits[counted.entitlement] = (t.overageUnits[counted.entitlement] ?? 0) + counted.overage;
    }
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private tally(customer: string): CustomerReplay {
    let t = this.customers.get(customer);
    if (!t) this.customers.set(customer, (t = { denied: 0, deniedBy: {}, overageUnits: {} }));
    return t;
  }

  /** Units the event adds to the entitlement's counter, as the engine's aggregation will count them. */
  private amount(
    c: Candidate,
    customer: string,
    ts: number,
    value: number | null,
    props: Props | null,
  ): number | { n: number; unique: { values: Set<string>; key: string } } | null {
    const m = c.meter;
    if (m.aggregation === "count") return 1;
    const raw = m.property === null ? value : props?.[m.property];
    if (m.aggregation === "unique_count") {
      if (raw === undefined || raw === null) return null;
      const resetsAt = this.engine.usage(customer, c.entitlement, { now: ts }).resetsAt;
      const owner = `${c.entitlement}|${this.index.ownerOf(customer, c.scope)}`;
      let seen = this.uniques.get(owner);
      if (!seen || seen.until !== resetsAt) this.uniques.set(owner, (seen = { until: resetsAt, values: new Set() }));
      const key = String(raw);
      return { n: seen.values.has(key) ? 0 : 1, unique: { values: seen.values, key } };
    }
    const v = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
    if (!Number.isFinite(v)) return null;
    if (m.aggregation === "sum") return v;
    const used = this.engine.usage(customer, c.entitlement, { now: ts }).used;
    return m.aggregation === "max" ? Math.max(0, v - used) : v - used;
  }
}

/**
 * Replay the period's recorded events through an engine per policy, in one
 * streamed pass (both policies see each event as it is read). Events before
 * `period.start` that still count toward a longer period's limit (a quarter,
 * a year, lifetime) are replayed first to warm the counters, without being tallied.
 */
export async function replayPeriod(
  db: Db,
  policies: CompiledPolicy[],
  period: Window,
  options: ReplayOptions = {},
): Promise<ReplayOutcome[]> {
  const subscriptions = planHistory(db);
  const replays = policies.map((p) => new PolicyReplay(p));
  try {
    for (const r of replays) await r.open(subscriptions);
    const types = [...new Set(replays.flatMap((r) => r.types()))];
    const from = Math.min(...replays.map((r) => r.warmUpStart(period.start)));
    const every = options.progressEvery ?? 250_000;
    const total = options.onProgress ? countEvents(db, types, from, period.end) : 0;
    let done = 0;
    let inPeriod = 0;
    for (const e of eventsInOrder(db, types, from, period.end)) {
      const props = e.properties === null ? null : (JSON.parse(e.properties) as Props);
      const tally = e.ts >= period.start;
      if (tally) inPeriod++;
      for (const r of replays) r.feed(e.type, e.customer, e.ts, e.value, props, tally);
      if (++done % every === 0) options.onProgress?.(done, total);
    }
    options.onProgress?.(done, total);
    return replays.map((r) => ({ events: inPeriod, customers: r.customers, unknownPlans: r.unknownPlans }));
  } finally {
    for (const r of replays) await r.close().catch(() => {});
  }
}
