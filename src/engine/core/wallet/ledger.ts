import type { WalletTxKind } from "./model.js";

/**
 * The pieces of a wallet (SPEC §12): lots of funds, ledger transactions,
 * holds and the terms in force, with amounts in atoms (see amount.ts).
 */
export interface Lot {
  id: string;
  /** What put the funds there: a recurring grant clamps at rollover, the others never. */
  source: "grant" | "opening" | "topup" | "adjustment" | "refund";
  remaining: bigint;
  priority: number;
  /** Epoch ms; Infinity = never. */
  expiresAt: number;
  createdAt: number;
}

export interface WalletTx {
  /** Caller's id, or a sequence number the runtime turns into a generated id. */
  id: string | number;
  customer: string;
  kind: WalletTxKind;
  at: number;
  /** Signed change of the balance, in atoms (see amount.ts). */
  amount: bigint;
  balanceAfter: bigint;
  /** Bundle version that made it (R17, R14). */
  version: number;
  lot: string | null;
  entitlement: string | null;
  note: string | null;
}

export interface WalletHold {
  id: string;
  amount: bigint;
  expiresAt: number;
}

/** The terms in force: grant and reserve, in atoms; null grant = none. */
export interface WalletTerms {
  unit: string;
  minimum: bigint;
  grant: {
    amount: bigint;
    every: string;
    rolloverMax: bigint | null;
    rollover: boolean;
    expiresAfter: string | null;
    priority: number;
  } | null;
  zone: string;
}

export type Sink = WalletTx[];

/** R12 burn order: lowest priority number, then earliest expiry (never last), then oldest. */
export function burnOrder(a: Lot, b: Lot): number {
  return (
    a.priority - b.priority ||
    a.expiresAt - b.expiresAt ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}
