import { stackKey } from "../core/add-ons.js";
import type { PlanChange } from "../core/engine/resolve.js";
import type { EngineStore } from "../core/engine/store-port.js";

/**
 * The plan history the engine decides with (`setPlan`, the store's
 * subscriptions), and the poll that picks up plans other processes record in
 * the store while the engine runs (`limitr customers set`).
 */
export class PlanBook {
  /** Customer -> plan changes sorted by `at`: the resolver's plan history. */
  readonly history = new Map<string, PlanChange[]>();
  /** Customer -> invoice currency recorded in the store (`customers set --currency`), read at open. */
  readonly currencies = new Map<string, string>();
  private poll: NodeJS.Timeout | null = null;

  /** Put `plan` (with `addOns`, sorted) in the customer's history from `at` on; false when it was there already. */
  insert(customer: string, at: number, plan: string, addOns: readonly string[] = []): boolean {
    let list = this.history.get(customer);
    if (!list) this.history.set(customer, (list = []));
    const change: PlanChange = addOns.length > 0 ? { at, plan, addOns } : { at, plan };
    const i = list.findIndex((c) => c.at >= at);
    const same = list[i];
    if (i < 0) list.push(change);
    else if (same?.at !== at) list.splice(i, 0, change);
    else if (stackKey(same.plan, same.addOns) !== stackKey(plan, addOns)) list[i] = change;
    else return false;
    return true;
  }

  /** The add-ons held at `at` (the latest change at or before it); none before the first change. */
  addOnsAt(customer: string, at: number): readonly string[] {
    let held: readonly string[] = [];
    for (const c of this.history.get(customer) ?? []) if (c.at <= at) held = c.addOns ?? [];
    return held;
  }

  /** The plan recorded at `at` (the latest change at or before it), or null before the first change. */
  planAt(customer: string, at: number): string | null {
    let plan: string | null = null;
    for (const c of this.history.get(customer) ?? []) if (c.at <= at) plan = c.plan;
    return plan;
  }

  /**
   * Every `ms`, take in the plan changes other processes recorded in `store`
   * and report the customers whose history changed. Nothing happens for a
   * store that cannot tell, or with `ms` 0.
   */
  watch(store: EngineStore, ms: number, changed: (customers: Set<string>) => void): void {
    if (store.externalPlanChanges === undefined || ms <= 0) return;
    this.poll = setInterval(() => {
      let rows: { customer: string; effectiveAt: number; plan: string; addOns?: readonly string[] }[];
      try {
        rows = store.externalPlanChanges?.() ?? [];
      } catch {
        return; // A busy or closing store: the next tick looks again.
      }
      const customers = new Set<string>();
      for (const r of rows)
        if (this.insert(r.customer, r.effectiveAt, r.plan, r.addOns)) customers.add(r.customer);
      if (customers.size > 0) changed(customers);
    }, ms).unref();
  }

  stop(): void {
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
  }
}
