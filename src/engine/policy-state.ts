import { PolicyIndex } from "../core/engine/resolve.js";
import type { CompiledPolicy } from "../core/model.js";
import type { Notifier } from "./events.js";
import type { NoticeContext } from "./meters.js";
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
export class PolicyState implements NoticeContext {
  readonly index: PolicyIndex;
  readonly zone: string;
  /** The slots resolved under this policy; starts empty, filled lazily by `Meters.slotId`. */
  readonly table: SlotTable;

  constructor(
    readonly policy: CompiledPolicy,
    /** Bundle version; 0 for a policy directory or an in-memory policy. */
    readonly version: number,
    /** `sha256:<hex>` of the canonical policy JSON. */
    readonly digest: string,
    readonly notifier: Notifier,
  ) {
    this.index = new PolicyIndex(policy);
    this.zone = policy.timezone;
    this.table = new SlotTable(this.index.entitlementIds());
  }
}
