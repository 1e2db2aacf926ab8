import type { DecimalString } from "../model.js";
import type { WalletLanes } from "./account.js";
import { fromAtoms } from "./amount.js";
import type { Ledger, WalletTx } from "./ledger.js";
import type { WalletTxKind } from "./model.js";

/**
 * Wallets as a store keeps them (SPEC §12): one row per customer's wallet
 * (its lots and holds, to restore it) and the append-only ledger. Amounts
 * are decimal strings; the balance is the sum of the ledger (R17).
 */
export interface WalletRow {
  customer: string;
  unit: string;
  openedAt: number;
  /** Next recurring grant boundary; null = none. */
  nextGrantAt: number | null;
  balance: DecimalString;
  lots: WalletLotRow[];
  holds: WalletHoldRow[];
}

export interface WalletLotRow {
  id: string;
  source: string;
  remaining: DecimalString;
  priority: number;
  /** null = never. */
  expiresAt: number | null;
  createdAt: number;
}

export interface WalletHoldRow {
  id: string;
  amount: DecimalString;
  expiresAt: number;
}

/** One ledger transaction. Unique by (customer, id): a repeated top-up id is stored once. */
export interface WalletTxRow {
  id: string;
  customer: string;
  kind: WalletTxKind;
  /** Epoch ms. */
  at: number;
  /** Signed change of the balance. */
  amount: DecimalString;
  balanceAfter: DecimalString;
  /** Bundle version that made it (R14, R17). */
  bundleVersion: number;
  lot: string | null;
  entitlement: string | null;
  note: string | null;
}

/**
 * What one flush persists of the wallets: new ledger rows and the wallets
 * they changed. The engine may also hand over the same as it keeps them
 * (`ledger`, `accountIds`) for a store that keeps those instead of rows; both
 * are valid only during the store's `write`. Such a store may take the
 * ledger's entries (`Ledger.take`) instead of copying them, last: the batch's
 * `transactions` read as empty after that.
 */
export interface WalletBatch {
  readonly transactions: WalletTxRow[];
  readonly wallets: WalletRow[];
  /** The transactions as the engine buffered them; a generated id is `idPrefix` + its number in base 36. */
  ledger?: Ledger;
  idPrefix?: string;
  /** The indexes in `lanes` of the wallets changed (`lanes.accounts`: live objects, a store copies what it keeps). */
  accountIds?: ArrayLike<number>;
  lanes?: WalletLanes;
}

/** The part of a store that keeps wallets. Every engine store implements it. */
export interface WalletStore {
  loadWallets(): WalletRow[];
  /** Ledger rows of a customer with from <= at < to, oldest first. */
  walletTransactions(customer: string, from: number, to: number): WalletTxRow[];
  /** Ledger rows of every customer in [from, to) of the given kinds, oldest first (billing). */
  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[];
  /** One ledger row by customer and id, or null. */
  walletTransaction(customer: string, id: string): WalletTxRow | null;
}

/** A ledger transaction as a store row (decimal strings; a generated id as `idPrefix` + its number in base 36). */
export function txRow(t: WalletTx, idPrefix: string): WalletTxRow {
  return {
    id: typeof t.id === "string" ? t.id : idPrefix + t.id.toString(36),
    customer: t.customer,
    kind: t.kind,
    at: t.at,
    amount: fromAtoms(t.amount),
    balanceAfter: fromAtoms(t.balanceAfter),
    bundleVersion: t.version,
    lot: t.lot,
    entitlement: t.entitlement,
    note: t.note,
  };
}
