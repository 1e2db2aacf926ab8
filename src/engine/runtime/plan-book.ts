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
  private poll: NodeJS.Timeout | null = null;

  /** Put `plan` in the customer's history from `at` on; false when it was there already. */
  insert(customer: string, at: number, plan: string): boolean {
    let list = this.history.get(customer);
    if (!list) this.history.set(customer, (list = []));
    const i = list.findIndex((c) => c.at >= at);
    if (i < 0) list.push({ at, plan });
    else if (list[i]?.at !== at) list.splice(i, 0, { at, plan });
    else if (list[i]?.plan !== plan) list[i] = { at, plan };
    else return false;
    return true;
  }

  /**
   * Every `ms`, take in the plan changes other processes recorded in `store`
   * and report the customers whose history changed. Nothing happens for a
   * store that cannot tell, or with `ms` 0.
   */
  watch(store: EngineStore, ms: number, changed: (customers: Set<string>) => void): void {
    if (store.externalPlanChanges === undefined || ms <= 0) return;
    this.poll = setInterval(() => {
      let rows: { customer: string; effectiveAt: number; plan: string }[];
      try {
        rows = store.externalPlanChanges?.() ?? [];
      } catch {
        return; // A busy or closing store: the next tick looks again.
      }
      const customers = new Set<string>();
      for (const r of rows) if (this.insert(r.customer, r.effectiveAt, r.plan)) customers.add(r.customer);
      if (customers.size > 0) changed(customers);
    }, ms).unref();
  }

  stop(): void {
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
  }
}
