import { resized } from "../engine/typed-arrays.js";
import { LANE, SINK_AT, type WalletLanes } from "./account.js";
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
 * transaction a decision makes) is kept as columns of numbers: typed arrays,
 * which the garbage collector never scans or copies, plus short tables of the
 * few distinct values (entitlements, balances) they point into. Every other
 * kind is kept as its row. `tx(i)` materialises any entry; the balance after
 * each entry is exact.
 */
export class Ledger {
  length = 0;
  /** The row of an entry that is not a plain debit (undefined: a debit in the columns). */
  private full: (WalletTx | undefined)[] = [];
  /** Entries kept as rows: when none, `full` is not read. */
  private rows = 0;
  /** A generated (numeric) id, or NaN: the caller's id, in `text`. */
  private num = new Float64Array(256);
  /** Caller-given ids by entry (sparse: read only where `num` is NaN). */
  private text: string[] = [];
  private texts = 0;
  /** The account's index in `lanes`, or -1: the customer is in `names` (a debit made with BigInt arithmetic). */
  private wids = new Float64Array(256);
  private names: string[] = [];
  private at = new Float64Array(256);
  /** Atoms of a number-lane debit (see `WalletAccount.spendQuick`), or NaN: the amount is in `exact`. */
  private quick = new Float64Array(256);
  /** A debit's amount, positive (the row's amount is its negation), where `quick` is NaN (sparse). */
  private exact: bigint[] = [];
  /** The balance after the debit is `balances[base[i]] - less[i]`: `less` is the account's unfolded spend then (0 for an exact debit). */
  private base = new Float64Array(256);
  private less = new Float64Array(256);
  /** The balances the entries are relative to: each account's `baseBalance` once per fold, each exact debit's balance after. */
  private balances: bigint[] = [];
  private nBalances = 0;
  /** This batch's number (see `baseIndex`), bumped by `clear`. */
  private batch = 1;
  private versions = new Float64Array(256);
  /** Index in `entitlements` of the entry's entitlement. */
  private ent = new Float64Array(256);
  private entitlements: (string | null)[] = [];
  private lastEntitlement: string | null = null;
  private lastEnt = -1;

  constructor(private readonly lanes: WalletLanes | null = null) {}

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
    this.setId(i, id);
    this.wids[i] = -1;
    this.names[i] = customer;
    this.at[i] = at;
    this.quick[i] = Number.NaN;
    this.exact[i] = amount;
    this.base[i] = this.balance(balanceAfter);
    this.less[i] = 0;
    this.versions[i] = version;
    this.ent[i] = this.entitlementIndex(entitlement);
  }

  /**
   * Append a number-lane debit of `atoms` leaving `base - spent` (the
   * account's balance at its last fold, read from the lanes, and its unfolded
   * spend after this debit): no BigInt and no object is made.
   */
  debitQuick(
    id: string | number,
    /** The account's index in the lanes this ledger was made with. */
    wid: number,
    at: number,
    atoms: number,
    spent: number,
    version: number,
    entitlement: string | null,
  ): void {
    const next = this.next;
    next[0] = at;
    next[1] = atoms;
    next[2] = spent;
    this.appendQuick(id, wid, version, entitlement);
  }

  /**
   * The time, atoms and spend of the next `appendQuick`. The decision path
   * passes them here, not as arguments: a number that is not a small integer
   * (a time, an amount in atoms) is boxed, allocated, when passed to a call
   * the compiler did not inline.
   */
  readonly next = new Float64Array(3);

  /** `debitQuick` with its numbers in `next`. */
  appendQuick(id: string | number, wid: number, version: number, entitlement: string | null): void {
    const i = this.slot();
    if (this.rows > 0) this.full[i] = undefined;
    if (typeof id === "number") this.num[i] = id;
    else this.setId(i, id);
    const next = this.next;
    this.wids[i] = wid;
    this.at[i] = next[0] as number;
    this.quick[i] = next[1] as number;
    this.base[i] = this.baseIndex(wid);
    this.less[i] = next[2] as number;
    this.versions[i] = version;
    this.ent[i] =
      entitlement === this.lastEntitlement && this.lastEnt >= 0
        ? this.lastEnt
        : this.entitlementIndex(entitlement);
  }

  /** Entry `i` as a transaction (a new object for a debit). */
  tx(i: number): WalletTx {
    const row = this.rows > 0 ? this.full[i] : undefined;
    if (row !== undefined) return row;
    const quick = this.quick[i] as number;
    const less = this.less[i] as number;
    const base = this.balances[this.base[i] as number] as bigint;
    return {
      id: this.idAt(i),
      customer: this.customerAt(i),
      kind: "debit",
      at: this.at[i] as number,
      amount: Number.isNaN(quick) ? -(this.exact[i] as bigint) : -BigInt(quick),
      balanceAfter: less === 0 ? base : base - BigInt(less),
      version: this.versions[i] as number,
      lot: null,
      entitlement: this.entitlements[this.ent[i] as number] as string | null,
      note: null,
    };
  }

  /** Whether some entry has an id given as text (a caller's id, or any row): else every id is a generated number. */
  get textIds(): boolean {
    return this.texts > 0 || this.rows > 0;
  }

  /** Entry `i`'s id: the caller's, or a number the runtime turns into a generated id. */
  id(i: number): string | number {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? this.idAt(i) : row.id;
  }

  kind(i: number): WalletTx["kind"] {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? "debit" : row.kind;
  }

  customer(i: number): string {
    const row = this.rows > 0 ? this.full[i] : undefined;
    return row === undefined ? this.customerAt(i) : row.customer;
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

  /** A copy of the entries (what a store keeps of a batch): typed arrays and short tables, no rows. */
  snapshot(): Ledger {
    const n = this.length;
    const m = Math.max(n, 1);
    const copy = new Ledger(this.lanes);
    copy.length = n;
    copy.rows = this.rows;
    if (this.rows > 0) copy.full = this.full.slice(0, n);
    copy.num = this.num.slice(0, m);
    if (this.texts > 0) {
      copy.text = this.text.slice(0, n);
      copy.texts = this.texts;
    }
    copy.wids = this.wids.slice(0, m);
    copy.names = this.names.slice(0, n);
    copy.at = this.at.slice(0, m);
    copy.quick = this.quick.slice(0, m);
    copy.exact = this.exact.slice(0, n);
    copy.base = this.base.slice(0, m);
    copy.less = this.less.slice(0, m);
    copy.balances = this.balances.slice(0, this.nBalances);
    copy.nBalances = this.nBalances;
    copy.versions = this.versions.slice(0, m);
    copy.ent = this.ent.slice(0, m);
    copy.entitlements = this.entitlements.slice();
    return copy;
  }

  /** Forget every entry (capacity is kept; the tables of values are emptied). */
  clear(): void {
    if (this.rows > 0) this.full.fill(undefined);
    this.rows = 0;
    this.length = 0;
    if (this.texts > 0) this.text = [];
    this.texts = 0;
    if (this.names.length > 0) this.names = [];
    if (this.exact.length > 0) this.exact = [];
    // Kept (overwritten from the start): its stale values are never read past `nBalances`.
    this.nBalances = 0;
    // A new batch: the lanes' marks of the last one (see `baseIndex`) no longer match.
    if (++this.batch >= MAX_BATCH) {
      const lanes = this.lanes;
      if (lanes !== null) for (let w = 0; w < lanes.length; w++) lanes.row[w * LANE + SINK_AT] = 0;
      this.batch = 1;
    }
    if (this.entitlements.length > 16) {
      this.entitlements = [];
      this.lastEnt = -1;
    }
  }

  private setId(i: number, id: string | number): void {
    if (typeof id === "number") {
      this.num[i] = id;
      return;
    }
    this.num[i] = Number.NaN;
    this.text[i] = id;
    this.texts++;
  }

  private idAt(i: number): string | number {
    const n = this.num[i] as number;
    return Number.isNaN(n) ? (this.text[i] as string) : n;
  }

  private customerAt(i: number): string {
    const wid = this.wids[i] as number;
    if (wid < 0) return this.names[i] as string;
    return ((this.lanes as WalletLanes).accounts[wid] as { customer: string }).customer;
  }

  /**
   * Where account `wid`'s base balance (as of its last fold) is in
   * `balances`: added once per batch and fold. The lanes keep where, marked
   * with the batch (`SINK_AT`: `batch * BATCH_SPAN + 1 + index`), and forget
   * it when the account changes; a mark of an earlier batch is smaller than
   * the current batch's.
   */
  private baseIndex(wid: number): number {
    const lanes = this.lanes as WalletLanes;
    const at = wid * LANE + SINK_AT;
    const tag = this.batch * BATCH_SPAN;
    const mark = (lanes.row[at] as number) - tag;
    if (mark > 0 && mark <= this.nBalances) return mark - 1;
    const b = this.balance(lanes.bases[wid] as bigint);
    if (b + 1 < BATCH_SPAN) lanes.row[at] = tag + b + 1;
    return b;
  }

  private balance(value: bigint): number {
    const b = this.nBalances++;
    this.balances[b] = value;
    return b;
  }

  private entitlementIndex(entitlement: string | null): number {
    let k = this.entitlements.indexOf(entitlement);
    if (k < 0) {
      k = this.entitlements.length;
      this.entitlements.push(entitlement);
    }
    this.lastEntitlement = entitlement;
    this.lastEnt = k;
    return k;
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
      this.num = grow(this.num);
      this.wids = grow(this.wids);
      this.versions = grow(this.versions);
      this.quick = grow(this.quick);
      this.base = grow(this.base);
      this.less = grow(this.less);
      this.ent = grow(this.ent);
    }
    return i;
  }
}

/** Entries of `balances` a batch may mark in the lanes (more are added unmarked). */
const BATCH_SPAN = 2 ** 24;
/** Batches before the marks are cleared and numbering starts again (marks stay below 2^53). */
const MAX_BATCH = 2 ** 28;

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
