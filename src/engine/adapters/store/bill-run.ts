import type { CompiledPolicy } from "../../core/model.js";
import { ZERO } from "../../core/money.js";
import type { NamedPeriod } from "../../core/periods.js";
import type { Bill, NumberedInput } from "../../core/rating/bill.js";
import { remainingOf } from "../../core/rating/credits.js";
import { customerPlans } from "../../core/rating/customers.js";
import { segmentsIn } from "../../core/rating/timeline.js";
import type { UsageStore } from "../../core/usage/store-port.js";
import { rateWithFirstEvents } from "./bill-first-events.js";
import { walletActivity } from "./bill-wallets.js";
import type { Db } from "./database.js";
import { SqliteUsageStore } from "./sqlite-usage-store.js";

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
 * A raw SQLite connection is accepted too (embedders and tests that opened one).
 */
export async function runBill(
  source: UsageStore | Db,
  policy: CompiledPolicy,
  period: NamedPeriod,
  options: BillOptions,
): Promise<Bill> {
  const store = "kind" in source ? source : new SqliteUsageStore(source);
  const history = await store.planHistory();
  const currencies = await store.customerCurrencies();
  const usage = await store.dailyUsage(policy, period, options.onProgress);
  // Wallet ledgers are kept by the engine's SQLite store; a Postgres store holds none yet.
  const wallets = store instanceof SqliteUsageStore ? walletActivity(store.db, policy, period) : new Map();
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
  const consumedByCustomer = await store.creditsConsumedBefore(period.start);
  const inputs: NumberedInput[] = [];
  billed.forEach(({ id, plans }, i) => {
    if (options.customers && !options.customers.includes(id)) return;
    const contract = policy.customers[id] ?? null;
    const consumed = consumedByCustomer.get(id) ?? new Map();
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
      currency: currencies.get(id) ?? null,
    });
  });
  const bill = await rateWithFirstEvents(store, policy, period, inputs, usage.lookup);
  if (options.recordCredits) await store.recordCredits(period, bill.invoices);
  return bill;
}
