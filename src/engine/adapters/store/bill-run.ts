import type { CompiledPolicy } from "../../core/model.js";
import { ZERO } from "../../core/money.js";
import type { NamedPeriod } from "../../core/periods.js";
import { type Bill, billPeriod, type NumberedInput } from "../../core/rating/bill.js";
import { remainingOf } from "../../core/rating/credits.js";
import { customerPlans } from "../../core/rating/customers.js";
import { segmentsIn } from "../../core/rating/timeline.js";
import { withFirstEvents } from "./bill-first-events.js";
import { loadDailyUsageParallel } from "./bill-usage.js";
import { walletActivity } from "./bill-wallets.js";
import { consumedBefore, recordCreditUse } from "./credit-ledger.js";
import type { Db } from "./database.js";
import { planHistory } from "./usage-store.js";

export interface BillOptions {
  /** Only these customers (invoice numbers are still those of the full run). */
  customers?: string[];
  /** Persist consumed credits so the next period sees the carried-over balance. */
  recordCredits: boolean;
  /** Days of usage scanned out of the period's days. */
  onProgress?: (daysDone: number, days: number) => void;
}

/**
 * Everything `limitr bill` computes from the store: who is billed (contract
 * customers, store subscriptions and customers with events in the period),
 * their plan history, usage and credit balances; then the pure rating.
 */
export async function runBill(
  db: Db,
  policy: CompiledPolicy,
  period: NamedPeriod,
  options: BillOptions,
): Promise<Bill> {
  const history = planHistory(db);
  const usage = await loadDailyUsageParallel(db, db.name, policy, period, options.onProgress);
  const wallets = walletActivity(db, policy, period);
  const candidates = new Set<string>([
    ...Object.keys(policy.customers),
    ...history.keys(),
    ...usage.customers,
    ...wallets.keys(),
  ]);
  const billed: { id: string; plans: NonNullable<ReturnType<typeof customerPlans>> }[] = [];
  for (const id of [...candidates].sort()) {
    const plans = customerPlans(policy, id, history.get(id));
    if (!plans) continue;
    if (segmentsIn(plans.changes, period).length === 0 && !usage.customers.has(id) && !wallets.has(id))
      continue;
    billed.push({ id, plans });
  }
  const inputs: NumberedInput[] = [];
  billed.forEach(({ id, plans }, i) => {
    if (options.customers && !options.customers.includes(id)) return;
    const contract = policy.customers[id] ?? null;
    const consumed = consumedBefore(db, id, period.start);
    inputs.push({
      seq: i + 1,
      customer: id,
      contract,
      changes: plans.changes,
      since: plans.since,
      trialStart: plans.trialStart,
      credits: (contract?.credits ?? []).map((credit) => ({
        credit,
        remaining: remainingOf(credit, consumed.get(credit.id) ?? ZERO),
      })),
      ...(wallets.has(id) ? { wallet: wallets.get(id) } : {}),
    });
  });
  const bill = billPeriod(policy, period, inputs, withFirstEvents(db, policy, period, usage.lookup));
  if (options.recordCredits) {
    db.transaction(() => {
      for (const inv of bill.invoices) recordCreditUse(db, inv.customer, period, inv.number, inv.creditUses);
    })();
  }
  return bill;
}
