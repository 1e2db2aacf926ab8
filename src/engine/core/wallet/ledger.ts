import { resized } from "../engine/typed-arrays.js";
import type { WalletLanes } from "./account.js";
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

/**
 * Ledger transactions not written yet, oldest first. A debit (the one
 * transaction a decision makes) is kept as columns, allocating nothing
 * beyond the amounts themselves; every other kind is kept as its row.
 * `tx(i)` materialises any entry; the balance after each entry is exact.
 */
export class Ledger {
  length = 0;
  /** The row of an entry that is not a plain debit (undefined: a debit in the columns). */
  private full: (WalletTx | undefined)[] = [];
  private ids: (string | number)[] = [];
  /** undefined: the customer of account `wids[i]` of `lanes`. */
  private customers: (string | undefined)[] = [];
  private wids = new Float64Array(256);

  constructor(private readonly lanes: WalletLanes | null = null) {}
  private at = new Float64Array(256);
  /** A debit's amount, positive (the row's amount is its negation); undefined: it is in `quick`. */
  private amounts: (bigint | undefined)[] = [];
  /** Atoms of a number-lane debit (see `WalletAccount.spendQuick`). */
  private quick = new Float64Array(256);
  /** The balance after the debit is `after - less`: `less` is the account's unfolded spend then (0 for an exact debit). */
  private after: bigint[] = [];
  private less = new Float64Array(256);
  private versions = new Float64Array(256);
  private entitlements: (string | null)[] = [];
  /** Entries kept as rows: when none, `full` is not read. */
  private rows = 0;

  /** Append a transaction row. */
  push(tx: WalletTx): void {
    const i = this.slot();
    this.full[i] = tx;
    this.rows++;
  }

  /** Append a debit of `amount` atoms (> 0) leaving `balanceAfter`. */
  debit(
    id: string | number,
    customer: string,
    at: number,
    amount: bigint,
    balanceAfter: bigint,
    version: number,
    entitlement: string | null,
  ): void {
    const i = this.slot();
    if (this.rows > 0) this.full[i] = undefined;
    this.ids[i] = id;
    this.customers[i] = customer;
    this.at[i] = at;
    this.amounts[i] = amount;
    this.after[i] = balanceAfter;
    this.less[i] = 0;
    this.versions[i] = version;
    this.entitlements[i] = entitlement;
  }

  /**
   * Append a number-lane debit of `atoms` leaving `base - spent` (the
   * account's balance at its last fold and its unfolded spend after this
   * debit): no BigInt is made until the row is read.
   */
  debitQuick(
    id: string | number,
    /** The account's index in the lanes this ledger was made with. */
    wid: number,
    at: number,
    atoms: number,
    base: bigint,
    spent: number,
    version: number,
    entitlement: string | null,
  ): void {
    const i = this.slot();
    if (this.rows > 0) this.full[i] = undefined;
    this.ids[i] = id;
    this.customers[i] = undefined;
    this.wids[i] = wid;
    this.at[i] = at;
    this.amounts[i] = undefined;
    this.quick[i] = atoms;
    this.after[i] = base;
    this.less[i] = spent;
    this.versions[i] = version;
    this.entitlements[i] = entitlement;
  }

  /** Entry `i` as a transaction (a new object for a debit). */
  tx(i: number): WalletTx {
    const row = this.rows > 0 ? this.full[i] : undefined;
    if (row !== undefined) return row;
    const exact = this.amounts[i];
    const less = this.less[i] as number;
    return {
      id: this.ids[i] as string | number,
      customer: this.customerAt(i),
      kind: "debit",
      at: this.at[i] as number,
      amount: exact === undefined ? -BigInt(this.quick[i] as number) : -exact,
      balanceAfter: less === 0 ? (this.after[i] as bigint) : (this.after[i] as bigint) - BigInt(less),
      version: this.versions[i] as number,
      lot: null,
      entitlement: this.entitlements[i] as string | null,
      note: null,
    };
  }

  /** Entry `i`'s id: the caller's, or a number the runtime turns into a generated id. */
  id(i: number): string | number {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? (this.ids[i] as string | number) : row.id;
  }

  kind(i: number): WalletTx["kind"] {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? "debit" : row.kind;
  }

  customer(i: number): string {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? this.customerAt(i) : row.customer;
  }

  private customerAt(i: number): string {
    const c = this.customers[i];
    if (c !== undefined) return c;
    return ((this.lanes as WalletLanes).accounts[this.wids[i] as number] as { customer: string }).customer;
  }

  time(i: number): number {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? (this.at[i] as number) : row.at;
  }

  /** The newest entry (undefined when empty). */
  last(): WalletTx | undefined {
    return this.length === 0 ? undefined : this.tx(this.length - 1);
  }

  /** Set the note of entry `i` (kept as a row from then on). */
  note(i: number, note: string): void {
    const tx = this.tx(i);
    tx.note = note;
    if (this.rows === 0 || this.full[i] === undefined) {
      this.full[i] = tx;
      this.rows++;
    }
  }

  /** Every entry as transactions, oldest first. */
  txs(): WalletTx[] {
    const out: WalletTx[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.tx(i);
    return out;
  }

  /** Drop the entries from `n` on (an undone debit). */
  truncate(n: number): void {
    for (let i = n; i < this.length; i++) this.drop(i);
    if (n < this.length) this.length = n;
  }

  /** A copy of the entries (what a store keeps of a batch). */
  snapshot(): Ledger {
    const n = this.length;
    const copy = new Ledger(this.lanes);
    copy.length = n;
    copy.rows = this.rows;
    if (this.rows > 0) copy.full = this.full.slice(0, n);
    copy.ids = this.ids.slice(0, n);
    copy.customers = this.customers.slice(0, n);
    copy.wids = this.wids.slice(0, Math.max(n, 1));
    copy.at = this.at.slice(0, Math.max(n, 1));
    copy.amounts = this.amounts.slice(0, n);
    copy.quick = this.quick.slice(0, Math.max(n, 1));
    copy.after = this.after.slice(0, n);
    copy.less = this.less.slice(0, Math.max(n, 1));
    copy.versions = this.versions.slice(0, Math.max(n, 1));
    copy.entitlements = this.entitlements.slice(0, n);
    return copy;
  }

  /** Forget every entry (capacity is kept). */
  clear(): void {
    if (this.rows > 0) this.full.fill(undefined);
    this.rows = 0;
    this.length = 0;
  }

  private drop(i: number): void {
    if (this.rows > 0 && this.full[i] !== undefined) {
      this.full[i] = undefined;
      this.rows--;
    }
  }

  private slot(): number {
    const i = this.length++;
    if (i === this.at.length) {
      this.at = grow(this.at);
      this.wids = grow(this.wids);
      this.versions = grow(this.versions);
      this.quick = grow(this.quick);
      this.less = grow(this.less);
    }
    return i;
  }
}

function grow(from: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  return resized(from, from.length * 2);
}

/** Where a wallet's transactions go (see `Ledger`). */
export type Sink = Ledger;

/** R12 burn order: lowest priority number, then earliest expiry (never last), then oldest. */
export function burnOrder(a: Lot, b: Lot): number {
  return (
    a.priority - b.priority ||
    a.expiresAt - b.expiresAt ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}
