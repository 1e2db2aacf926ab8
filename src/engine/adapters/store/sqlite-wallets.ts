import type Database from "better-sqlite3";
import type { WalletTxKind } from "../../core/wallet/model.js";
import type { WalletBatch, WalletRow, WalletStore, WalletTxRow } from "../../core/wallet/store-rows.js";
import type { Db } from "./database.js";

const TX_COLUMNS = `id, customer, kind, at, amount, balance_after AS balanceAfter, bundle_version AS bundleVersion,
  lot, entitlement, note`;

interface StoredWallet {
  customer: string;
  unit: string;
  openedAt: number;
  nextGrantAt: number | null;
  balance: string;
  lots: string;
  holds: string;
}

/**
 * The wallet tables of a SQLite store (migration 4): `wallets` (one row per
 * customer, its lots and holds as JSON) and the append-only
 * `wallet_transactions`. Writes run inside the engine store's batch
 * transaction, so a decision's ledger row and its usage event commit together.
 */
export class SqliteWallets implements WalletStore {
  private readonly stmt: {
    tx: Database.Statement;
    wallet: Database.Statement;
    range: Database.Statement;
    one: Database.Statement;
  };

  constructor(private readonly db: Db) {
    this.stmt = {
      tx: db.prepare(
        `INSERT OR IGNORE INTO wallet_transactions
          (id, customer, kind, at, amount, balance_after, bundle_version, lot, entitlement, note)
          VALUES (?,?,?,?,?,?,?,?,?,?)`,
      ),
      wallet: db.prepare(
        `INSERT OR REPLACE INTO wallets (customer, unit, opened_at, next_grant_at, balance, lots, holds, updated_at)
          VALUES (?,?,?,?,?,?,?,?)`,
      ),
      range: db.prepare(
        `SELECT ${TX_COLUMNS} FROM wallet_transactions WHERE customer = ? AND at >= ? AND at < ? ORDER BY seq`,
      ),
      one: db.prepare(`SELECT ${TX_COLUMNS} FROM wallet_transactions WHERE customer = ? AND id = ?`),
    };
  }

  write(b: WalletBatch, at: number): void {
    for (const t of b.transactions)
      this.stmt.tx.run(
        t.id,
        t.customer,
        t.kind,
        t.at,
        t.amount,
        t.balanceAfter,
        t.bundleVersion,
        t.lot,
        t.entitlement,
        t.note,
      );
    for (const w of b.wallets)
      this.stmt.wallet.run(
        w.customer,
        w.unit,
        w.openedAt,
        w.nextGrantAt,
        w.balance,
        JSON.stringify(w.lots),
        JSON.stringify(w.holds),
        at,
      );
  }

  loadWallets(): WalletRow[] {
    const rows = this.db
      .prepare(
        "SELECT customer, unit, opened_at AS openedAt, next_grant_at AS nextGrantAt, balance, lots, holds FROM wallets",
      )
      .all() as StoredWallet[];
    return rows.map((r) => ({ ...r, lots: JSON.parse(r.lots), holds: JSON.parse(r.holds) }));
  }

  walletTransactions(customer: string, from: number, to: number): WalletTxRow[] {
    return this.stmt.range.all(customer, clamp(from), clamp(to)) as WalletTxRow[];
  }

  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[] {
    const marks = kinds.map(() => "?").join(",");
    return this.db
      .prepare(
        `SELECT ${TX_COLUMNS} FROM wallet_transactions WHERE at >= ? AND at < ? AND kind IN (${marks}) ORDER BY seq`,
      )
      .all(clamp(from), clamp(to), ...kinds) as WalletTxRow[];
  }

  walletTransaction(customer: string, id: string): WalletTxRow | null {
    return (this.stmt.one.get(customer, id) as WalletTxRow | undefined) ?? null;
  }
}

/** SQLite integers: an open range end (Infinity) becomes the largest one. */
function clamp(ms: number): number {
  return ms === Infinity ? Number.MAX_SAFE_INTEGER : ms === -Infinity ? Number.MIN_SAFE_INTEGER : ms;
}
