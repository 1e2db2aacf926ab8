import type { CompiledPolicy } from "../../core/model.js";
import { ZERO } from "../../core/money.js";
import type { NamedPeriod, Window } from "../../core/periods.js";
import type { Bill, BillPricing, NumberedInput } from "../../core/rating/bill.js";
import { remainingOf } from "../../core/rating/credits.js";
import { customerPlans } from "../../core/rating/customers.js";
import { segmentsIn } from "../../core/rating/timeline.js";
import type { WalletActivity } from "../../core/rating/wallet-lines.js";
import type { DailyUsage, UsageStore } from "../../core/usage/store-port.js";
import { policyDigestOf } from "../bundles/crypto.js";
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

/** A policy and the part of the billed period it priced (a version active then), half-open. */
export interface PeriodPricing {
  policy: CompiledPolicy;
  start: number;
  end: number;
  /** Bundle version and digest; null for a policy directory. */
  version: number | null;
  digest: string | null;
}

/**
 * Everything `limitr bill` computes from the store: who is billed (contract
 * customers, store subscriptions and customers with events in the period),
 * their plan history, usage and credit balances; then the pure rating.
 * `policy` is one policy for the whole period, or the policies active in turn
 * during it (SPEC §15: usage under the version active at its timestamp).
 * A raw SQLite connection is accepted too (embedders and tests that opened one).
 */
export async function runBill(
  source: UsageStore | Db,
  policy: CompiledPolicy | PeriodPricing[],
  period: NamedPeriod,
  options: BillOptions,
): Promise<Bill> {
  const store = "kind" in source ? source : new SqliteUsageStore(source);
  const pieces: PeriodPricing[] = Array.isArray(policy)
    ? policy
    : [{ policy, start: period.start, end: period.end, version: null, digest: policyDigestOf(policy) }];
  const last = pieces[pieces.length - 1];
  if (!last) throw new Error("runBill needs a policy");
  // Independent reads, at once (a Postgres store runs them on separate connections of its pool).
  const readUsages = async () => {
    const out: DailyUsage[] = [];
    for (const piece of pieces)
      out.push(
        await store.dailyUsage(piece.policy, { start: piece.start, end: piece.end }, options.onProgress),
      );
    return out;
  };
  // Wallet ledgers the engine kept in its store (SQLite or Postgres): top-ups are invoiced, debits shown.
  const readWallets = async () =>
    store instanceof SqliteUsageStore
      ? walletActivity(store.db, last.policy, period)
      : hasWallets(store)
        ? await store.walletActivity(last.policy, period)
        : new Map<string, WalletActivity>();
  const [history, currencies, usages, wallets, consumedByCustomer] = await Promise.all([
    store.planHistory(),
    store.customerCurrencies(),
    readUsages(),
    readWallets(),
    store.creditsConsumedBefore(period.start),
  ]);
  const used = (id: string) => usages.some((u) => u.customers.has(id));
  const candidates = new Set<string>([...history.keys(), ...wallets.keys()]);
  for (const piece of pieces) for (const id of Object.keys(piece.policy.customers)) candidates.add(id);
  for (const u of usages) for (const id of u.customers) candidates.add(id);
  const billed: { id: string; plans: NonNullable<ReturnType<typeof customerPlans>>[]; perPiece: Plans[] }[] =
    [];
  for (const id of [...candidates].sort()) {
    const perPiece = pieces.map((p) => customerPlans(p.policy, id, history.get(id)));
    const known = perPiece.filter((p): p is NonNullable<typeof p> => p !== null);
    if (known.length === 0) continue;
    const inForce = perPiece.some(
      (p, i) => p !== null && segmentsIn(p.changes, pieces[i] as PeriodPricing).length > 0,
    );
    if (!inForce && !used(id) && !wallets.has(id)) continue;
    billed.push({ id, plans: known, perPiece });
  }
  const inputs: NumberedInput[] = [];
  billed.forEach(({ id, plans, perPiece }, i) => {
    if (options.customers && !options.customers.includes(id)) return;
    const latest = plans[plans.length - 1] as NonNullable<Plans>;
    const contract = last.policy.customers[id] ?? null;
    const consumed = consumedByCustomer.get(id) ?? new Map();
    inputs.push({
      seq: i + 1,
      customer: id,
      contract,
      changes: latest.changes,
      since: latest.since,
      trialStart: latest.trialStart,
      credits: (contract?.credits ?? []).map((credit) => ({
        credit,
        remaining: remainingOf(credit, consumed.get(credit.id) ?? ZERO),
      })),
      ...(wallets.has(id) ? { wallet: wallets.get(id) } : {}),
      ...(pieces.length > 1
        ? {
            perPricing: perPiece.map((p, k) => ({
              changes: p?.changes ?? [],
              contract: pieces[k]?.policy.customers[id] ?? null,
            })),
          }
        : {}),
      currency: currencies.get(id) ?? null,
    });
  });
  const pricings: BillPricing[] = pieces.map((p, i) => ({
    ...p,
    lookup: (usages[i] as DailyUsage).lookup,
    label: pricingLabel(p),
  }));
  const bill = await rateWithFirstEvents(store, period, inputs, pricings);
  if (options.recordCredits) await store.recordCredits(period, bill.invoices);
  return bill;
}

type Plans = ReturnType<typeof customerPlans>;

/** A store that keeps wallet ledgers besides SQLite's (Postgres). */
interface WithWallets {
  walletActivity(policy: CompiledPolicy, period: Window): Promise<Map<string, WalletActivity>>;
}

function hasWallets(store: object): store is WithWallets {
  return typeof (store as Partial<WithWallets>).walletActivity === "function";
}

/** How lines name a policy: `policy v3`, or an unpublished one by its digest. */
export function pricingLabel(p: Pick<PeriodPricing, "version" | "digest">): string | null {
  if (p.version === null) return null;
  return p.version === 0 ? `policy ${String(p.digest).slice(7, 19)}` : `policy v${p.version}`;
}
