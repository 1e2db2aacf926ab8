import { creditEventTypes } from "../core/credits/convert.js";
import { unitMeter } from "../core/credits/rating.js";
import type { CompiledCreditUnit } from "../core/credits/types.js";
import { PolicyIndex } from "../core/engine/resolve.js";
import type { CompiledMeter, CompiledPlan, CompiledPolicy } from "../core/model.js";
import type { NoticeContext, Notifier } from "./events.js";
import { SlotTable } from "./slot.js";

/**
 * Everything a decision reads from the active policy, in one object: the
 * resolver, the timezone, the bundle identity (R14) and the slots resolved
 * under it. A bundle reload builds a new PolicyState off to the side and the
 * engine swaps it in with one assignment, between two decisions: a decision
 * sees the old state or the new one, never a mix. Counters, holds and rate
 * buckets live outside it (in `Meters`), keyed by customer and entitlement,
 * so they survive the swap.
 */
/** A metered entitlement of a plan and its meter. */
export interface MeteredEntitlement {
  id: string;
  meter: CompiledMeter;
  /** Set when the entitlement is metered in a credit unit: events count their credits. */
  credit?: CompiledCreditUnit;
}

const NONE: readonly MeteredEntitlement[] = [];

export class PolicyState implements NoticeContext {
  readonly index: PolicyIndex;
  readonly zone: string;
  /** The slots resolved under this policy; starts empty, filled lazily by `Meters.slotId`. */
  readonly table: SlotTable;
  /** Customers some other customer names as its parent. */
  private readonly parents = new Set<string>();
  /** Every event type some meter takes. */
  private readonly eventTypes = new Set<string>();
  /** plan -> event type -> its metered entitlements (see meteredFor). */
  private readonly metered = new Map<string, Map<string, MeteredEntitlement[]>>();

  constructor(
    readonly policy: CompiledPolicy,
    /** Bundle version; 0 for a policy directory or an in-memory policy. */
    readonly version: number,
    /** `sha256:<hex>` of the canonical policy JSON. */
    readonly digest: string,
    readonly notifier: Notifier,
    /** The currency the store records for a customer (see `PolicyIndex`). */
    recordedCurrency?: (customer: string) => string | undefined,
  ) {
    this.index = new PolicyIndex(policy, recordedCurrency);
    this.zone = policy.timezone;
    this.table = new SlotTable(this.index.entitlementIds());
    for (const meter of Object.values(policy.meters))
      for (const type of meter.events) this.eventTypes.add(type);
    for (const unit of Object.values(policy.creditUnits ?? {}))
      for (const type of creditEventTypes(unit, policy.meters, policy.creditUnits)) this.eventTypes.add(type);
    for (const c of Object.values(policy.customers)) if (c.parent) this.parents.add(c.parent);
  }

  /** Some customer's terms depend on this one's plan: it has children in the account tree. */
  isParent(customer: string): boolean {
    return this.parents.has(customer);
  }

  /**
   * The metered entitlements of plan `planId` whose meter takes events of
   * `type`, worked out once per plan and type. Types no meter takes are
   * answered without caching, so callers cannot grow it.
   */
  meteredFor(planId: string, plan: CompiledPlan, type: string): readonly MeteredEntitlement[] {
    if (!this.eventTypes.has(type)) return NONE;
    let byType = this.metered.get(planId);
    if (byType === undefined) this.metered.set(planId, (byType = new Map()));
    let list = byType.get(type);
    if (list === undefined) {
      list = [];
      for (const [id, ent] of Object.entries(plan.entitlements)) {
        if (ent.kind !== "metered") continue;
        const meter = this.policy.meters[ent.meter];
        if (meter?.events.includes(type)) list.push({ id, meter });
        const unit = this.policy.creditUnits?.[ent.meter];
        if (unit && creditEventTypes(unit, this.policy.meters, this.policy.creditUnits).includes(type))
          list.push({ id, meter: unitMeter(unit), credit: unit });
      }
      byType.set(type, list);
    }
    return list;
  }
}
