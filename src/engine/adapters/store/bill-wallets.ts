import type { CompiledPolicy } from "../../core/model.js";
import { type Decimal, dec, decStr, ZERO } from "../../core/money.js";
import type { Window } from "../../core/periods.js";
import type { WalletActivity } from "../../core/rating/wallet-lines.js";
import type { Db } from "./database.js";

/**
 * The period's wallet activity per customer for `bill` (R19): top-ups and
 * debits of money wallets (wallets in another unit carry no price here).
 */
export function walletActivity(db: Db, policy: CompiledPolicy, period: Window): Map<string, WalletActivity> {
  const wallets = db.prepare("SELECT customer, unit FROM wallets").all() as WalletUnit[];
  if (!wallets.some((w) => w.unit.toUpperCase() === policy.currency)) return new Map();
  const rows = db
    .prepare(
      `SELECT id, customer, kind, amount, entitlement FROM wallet_transactions
        WHERE at >= ? AND at < ? AND kind IN ('credit', 'debit') ORDER BY seq`,
    )
    .all(period.start, period.end) as WalletTxLine[];
  return activityOf(wallets, rows, policy);
}

/** A wallet's customer and unit. */
export interface WalletUnit {
  customer: string;
  unit: string;
}

/** A credit or debit of the period, in ledger order. */
export interface WalletTxLine {
  id: string;
  customer: string;
  kind: "credit" | "debit";
  amount: string;
  entitlement: string | null;
}

/**
 * The activity of the money wallets (unit = the policy's currency) from the
 * period's ledger rows, in ledger order: every store reads its rows, this
 * turns them into invoice input the same way.
 */
export function activityOf(
  wallets: readonly WalletUnit[],
  rows: readonly WalletTxLine[],
  policy: CompiledPolicy,
): Map<string, WalletActivity> {
  const out = new Map<string, WalletActivity>();
  const money = new Set(
    wallets.filter((w) => w.unit.toUpperCase() === policy.currency).map((w) => w.customer),
  );
  if (money.size === 0) return out;
  const debits = new Map<string, Map<string, Decimal>>();
  for (const r of rows) {
    if (!money.has(r.customer)) continue;
    let a = out.get(r.customer);
    if (a === undefined) out.set(r.customer, (a = { topUps: [], debits: {} }));
    if (r.kind === "credit") a.topUps.push({ id: r.id, amount: r.amount });
    else if (r.entitlement !== null) {
      let m = debits.get(r.customer);
      if (m === undefined) debits.set(r.customer, (m = new Map()));
      // Debits are negative on the ledger; a refund (positive) gives back what it reverses.
      m.set(r.entitlement, (m.get(r.entitlement) ?? ZERO).minus(dec(r.amount)));
    }
  }
  for (const [customer, m] of debits) {
    const a = out.get(customer) as WalletActivity;
    for (const [ent, v] of m) a.debits[ent] = decStr(v);
  }
  return out;
}
