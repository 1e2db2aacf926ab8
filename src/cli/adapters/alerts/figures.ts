import { runBill } from "limitr-engine/adapters/store/bill-run";
import type { CustomerFigures, EntitlementFigures } from "limitr-engine/core/alerts/evaluate";
import { type PlanHistory, PolicyIndex } from "limitr-engine/core/engine/resolve";
import type { CompiledMeter, CompiledPolicy, Scope } from "limitr-engine/core/model";
import { type Decimal, dec, ZERO } from "limitr-engine/core/money";
import type { NamedPeriod, Window } from "limitr-engine/core/periods";
import { specWindow, subscriptionAnchor } from "limitr-engine/core/periods/spec";
import type { Bill } from "limitr-engine/core/rating/bill";
import { creditUsable, remainingOf } from "limitr-engine/core/rating/credits";
import type { UsageStore } from "limitr-engine/core/usage/store-port";
import { effectiveWallet } from "limitr-engine/core/wallet/compile";

/**
 * The figures alert rules read, computed from the usage store as of an
 * instant: usage per entitlement in its own period (shared counters summed
 * over the account tree, R7), and spend, cost, margin and credit balance
 * from the period's invoice exactly as `bill` computes it.
 */
export async function gatherFigures(
  db: UsageStore,
  policy: CompiledPolicy,
  period: NamedPeriod,
  asOf: number,
  onProgress?: (daysDone: number, days: number) => void,
): Promise<CustomerFigures[]> {
  const bill: Bill = await runBill(db, policy, period, { recordCredits: false, onProgress });
  const history: PlanHistory = new Map(
    [...(await db.planHistory())].map(([customer, rows]) => [
      customer,
      rows.map((r) => ({ at: r.at, plan: r.plan, ...(r.addOns ? { addOns: r.addOns } : {}) })),
    ]),
  );
  const index = new PolicyIndex(policy);
  const usage = new UsageCache(db, index);
  const consumedByCustomer = await db.creditsConsumedBefore(period.start);
  const out: CustomerFigures[] = [];
  for (const invoice of bill.invoices) {
    const customer = invoice.customer;
    const { plan: planId, addOns } = index.planAt(customer, asOf, history);
    const plan = planId ? index.stacked(planId, addOns) : undefined;
    if (!planId || !plan) continue;
    const contract = policy.customers[customer];
    const entitlements: EntitlementFigures[] = [];
    for (const [id, ent] of Object.entries(plan.entitlements)) {
      if (ent.kind !== "metered") continue;
      const eff = index.entitlement(customer, id, asOf, history);
      if (eff.reason !== null || eff.meter === null) continue;
      // A `first_use` anchor lives in the engine's counters, not the event store: batch alerts read the plan's start.
      const window = specWindow(eff.period, asOf, {
        zone: policy.timezone,
        billing: eff.billing,
        planFrom: eff.planFrom,
        firstUse: subscriptionAnchor(eff.planFrom, eff.billing.since, policy.timezone),
      });
      entitlements.push({
        entitlement: id,
        usage: await usage.of(
          eff.meter,
          { start: window.start, end: Math.min(window.end, asOf + 1) },
          eff.owner,
          ent.scope,
        ),
        limit: Number.isFinite(eff.limit) ? eff.limit : null,
        window,
      });
    }
    const revenue = invoice.subtotal.minus(invoice.discount);
    const consumed = consumedByCustomer.get(customer) ?? new Map<string, Decimal>();
    const granted = (contract?.credits ?? [])
      .filter((c) => creditUsable(c, { start: asOf, end: asOf + 1 }, policy.timezone))
      .reduce((acc, c) => acc.plus(remainingOf(c, consumed.get(c.id) ?? ZERO)), ZERO);
    out.push({
      customer,
      plan: planId,
      parent: contract?.parent ?? null,
      metadata: contract?.metadata ?? {},
      spend: revenue.toNumber(),
      cost: invoice.cost.toNumber(),
      marginPercent: invoice.marginPercent === null ? 0 : invoice.marginPercent.toNumber(),
      balance: Math.max(0, granted.minus(invoice.creditsApplied).toNumber()),
      // A wallet's figures are the engine's: it evaluates rules reading them live.
      walletLive: effectiveWallet(policy, planId, customer) !== null,
      entitlements,
    });
  }
  return out;
}

/** One SQL aggregation per (meter, window), shared by every customer and rule. */
class UsageCache {
  private readonly cache = new Map<string, Map<string, number>>();

  constructor(
    private readonly db: UsageStore,
    private readonly index: PolicyIndex,
  ) {}

  async of(meter: CompiledMeter, window: Window, owner: string, scope: Scope): Promise<number> {
    const perCustomer = await this.perCustomer(meter, window);
    if (scope === "customer") return perCustomer.get(owner) ?? 0;
    let total = 0;
    for (const [customer, q] of perCustomer) if (this.index.ownerOf(customer, scope) === owner) total += q;
    return total;
  }

  private async perCustomer(meter: CompiledMeter, window: Window): Promise<Map<string, number>> {
    const key = `${meter.id}|${window.start}|${window.end}`;
    let map = this.cache.get(key);
    if (!map) {
      map = new Map();
      for (const row of await this.db.aggregateMeter({ meter, window, zone: this.index.policy.timezone })) {
        map.set(row.customer, (map.get(row.customer) ?? 0) + (row.q === null ? 0 : dec(row.q).toNumber()));
      }
      this.cache.set(key, map);
    }
    return map;
  }
}
