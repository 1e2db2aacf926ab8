import type { DecimalString } from "../model.js";

/**
 * Wallets in the compiled policy (SPEC §12): a plan's `wallet:` and a
 * contract's per-customer terms. Amounts are decimal strings in the wallet's
 * unit; durations stay ISO-8601 text.
 */
export interface CompiledWallet {
  /** The policy currency (a money wallet) or the unit of the prepaid entitlements' meters. */
  unit: string;
  grant: WalletGrant | null;
  /** Reserve never spent: available = balance - minimum - reserved. */
  minimum: DecimalString;
}

export interface WalletGrant {
  amount: DecimalString;
  /** `day|week|month|quarter|year` (calendar, policy timezone) or an ISO-8601 duration from the wallet's opening. */
  every: string;
  /** null: an unspent grant is forfeited at the next grant. `max` null: all of it carries over. */
  rollover: { max: DecimalString | null } | null;
  /** ISO-8601 duration after which each grant expires; null = never (until forfeited by rollover). */
  expiresAfter: string | null;
  priority: number;
}

/** A contract's wallet terms. Absent fields keep the plan's. */
export interface CustomerWallet {
  /** Credited once, when the customer's wallet opens. */
  openingBalance: DecimalString | null;
  unit?: string;
  /** null removes the plan's grant. */
  grant?: WalletGrant | null;
  minimum?: DecimalString;
}

/** How a prepaid entitlement's call becomes a wallet amount (see `pricerFor`). */
export type WalletUnitKind = "money" | "credits" | "quantity";

/** Ledger transaction kinds (R17). The balance is always the sum of the ledger. */
export type WalletTxKind = "credit" | "debit" | "grant" | "expiry" | "rollover" | "adjustment";

export const WALLET_TX_KINDS: readonly WalletTxKind[] = [
  "credit",
  "debit",
  "grant",
  "expiry",
  "rollover",
  "adjustment",
];
