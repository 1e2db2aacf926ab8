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
 * transaction a decision makes) is kept as numbers: a row of `NUMS` numbers
 * (id, time, atoms) in one typed array and a row of `INTS` small integers
 * (base balance, entitlement) in another, which the garbage collector never
 * scans or copies, plus short tables of the few distinct values (entitlements,
 * bundle versions, and the balances with their account and spend) they point
 * into: 32 bytes a debit. Every other kind
 * is kept as its row. `tx(i)` materialises any entry; the balance after each
 * entry is exact.
 */
export class Ledger {
  length = 0;
  /** The row of an entry that is not a plain debit (undefined: a debit in the columns). */
  private full: (WalletTx | undefined)[] = [];
  /** Entries kept as rows: when none, `full` is not read. */
  private rows = 0;
  /** Entries the columns have room for. */
  private room: number;
  /**
   * Entry `i`'s numbers at `i * NUMS`: its generated (numeric) id or NaN (the
   * caller's id, in `text`); its time; the atoms of a number-lane debit (see
   * `WalletAccount.spendQuick`) or NaN (the amount is in `exact`).
   */
  private nums: Float64Array<ArrayBuffer>;
  /**
   * Entry `i`'s small integers at `i * INTS`: where its base balance is in
   * `balances`, and its entitlement's index. The balance after a debit is its
   * base less the account's unfolded spend after it (see `spendAt`): 0 for an
   * exact debit (its base is its balance after), else the spend before the
   * base's first entry (`sides`) plus the atoms of its entries so far.
   */
  private ints: Int32Array<ArrayBuffer>;
  /** Per entry of `balances`, at `b * SIDES`: the account's index in `lanes` (-1: an exact debit, its customer in `names`) and its unfolded spend before the entry that added it. */
  private sides = new Float64Array(64 * SIDES);
  /** The unfolded spend after each entry (number-lane debits), worked out up to entry `spends` when first read. */
  private spendCache: Float64Array<ArrayBuffer> = EMPTY_NUMS;
  private spends = 0;
  /** Per base balance, its account's spend as of entry `spends` (working state of `spendAt`), the first `started` of them set. */
  private runs: Float64Array<ArrayBuffer> = EMPTY_NUMS;
  private started = 0;
  /** Caller-given ids by entry (sparse: read only where the numeric id is NaN). */
  private text: string[] = [];
  private texts = 0;
  private names: string[] = [];
  /** A debit's amount, positive (the row's amount is its negation), where its atoms are NaN (sparse). */
  private exact: bigint[] = [];
  /** The balances the entries are relative to: each account's `baseBalance` once per fold, each exact debit's balance after. */
  private balances: bigint[] = [];
  private nBalances = 0;
  /** This batch's number (see `baseIndex`), bumped by `clear`. */
  private batch = 1;
  /** Bundle versions, run-length: debits from entry `versionFrom[k]` on were made by `versions[k]` (a reload is rare). */
  private versionFrom: number[] = [];
  private versions: number[] = [];
  private lastVersion = Number.NaN;
  private entitlements: (string | null)[] = [];
  private lastEntitlement: string | null = null;
  private lastEnt = -1;
  /** Column arrays given back by taken batches (see `take`), shared with them. */
  private spare: Spare[] = [];

  constructor(
    private readonly lanes: WalletLanes | null = null,
    /** Entries to make room for at first. */
    room = 256,
  ) {
    this.room = Math.max(1, room);
    this.nums = new Float64Array(this.room * NUMS);
    this.ints = new Int32Array(this.room * INTS);
  }

  /** Append a transaction row. */
  push(tx: WalletTx): void {
    const i = this.slot();
    this.nums[i * NUMS + QUICK] = Number.NaN;
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
    const n = this.nums;
    const f = i * NUMS;
    if (typeof id === "number") n[f + ID] = id;
    else this.setText(i, id);
    n[f + AT] = at;
    n[f + QUICK] = Number.NaN;
    this.names[i] = customer;
    this.exact[i] = amount;
    const k = i * INTS;
    this.ints[k + BASE] = this.balance(balanceAfter, -1, 0);
    this.ints[k + ENT] = this.entitlementIndex(entitlement);
    if (version !== this.lastVersion) this.versionAt(i, version);
  }

  /**
   * Append a number-lane debit of `atoms` leaving `base - spent` (the
   * account's balance at its last fold, read from the lanes, and its unfolded
   * spend after this debit): no BigInt and no object is made. `spent` is kept
   * for the account's first debit on a base only; the later ones add their
   * atoms to it (every change of the spend other than these debits starts a
   * new base).
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
    const i = this.length++;
    if (i === this.room) this.grow();
    if (this.rows > 0) this.full[i] = undefined;
    const n = this.nums;
    const f = i * NUMS;
    const next = this.next;
    if (typeof id === "number") n[f + ID] = id;
    else this.setText(i, id);
    n[f + AT] = next[0] as number;
    n[f + QUICK] = next[1] as number;
    const k = i * INTS;
    const ints = this.ints;
    ints[k + BASE] = this.baseIndex(wid);
    ints[k + ENT] =
      entitlement === this.lastEntitlement && this.lastEnt >= 0
        ? this.lastEnt
        : this.entitlementIndex(entitlement);
    if (version !== this.lastVersion) this.versionAt(i, version);
  }

  /** Entry `i` as a transaction (a new object for a debit). */
  tx(i: number): WalletTx {
    const row = this.rows > 0 ? this.full[i] : undefined;
    if (row !== undefined) return row;
    const f = i * NUMS;
    const n = this.nums;
    const quick = n[f + QUICK] as number;
    const less = Number.isNaN(quick) ? 0 : this.spendAt(i);
    const base = this.balances[this.ints[i * INTS + BASE] as number] as bigint;
    return {
      id: this.idAt(i),
      customer: this.customerAt(i),
      kind: "debit",
      at: n[f + AT] as number,
      amount: Number.isNaN(quick) ? -(this.exact[i] as bigint) : -BigInt(quick),
      balanceAfter: less === 0 ? base : base - BigInt(less),
      version: this.versionOf(i),
      lot: null,
      entitlement: this.entitlements[this.ints[i * INTS + ENT] as number] as string | null,
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
    return row === undefined ? (this.nums[i * NUMS + AT] as number) : row.at;
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
    const lanes = this.lanes;
    for (let i = n; i < this.length; i++) {
      // The account's next debit starts a new base (its spend then is read afresh, see `spendAt`).
      const wid = this.sides[(this.ints[i * INTS + BASE] as number) * SIDES + WID] as number;
      if (lanes !== null && !Number.isNaN(this.nums[i * NUMS + QUICK] as number) && wid >= 0)
        lanes.row[wid * LANE + SINK_AT] = 0;
      this.drop(i);
    }
    if (n >= this.length) return;
    this.length = n;
    if (this.spends > n) this.spends = 0;
    while (this.versionFrom.length > 0 && (this.versionFrom[this.versionFrom.length - 1] as number) >= n) {
      this.versionFrom.pop();
      this.versions.pop();
    }
    this.lastVersion =
      this.versions.length === 0 ? Number.NaN : (this.versions[this.versions.length - 1] as number);
  }

  /** A copy of the entries (what a store keeps of a batch): typed arrays and short tables, no rows. */
  snapshot(): Ledger {
    const n = this.length;
    const m = Math.max(n, 1);
    const copy = new Ledger(this.lanes, 1);
    copy.length = n;
    copy.room = m;
    copy.rows = this.rows;
    if (this.rows > 0) copy.full = this.full.slice(0, n);
    copy.nums = this.nums.slice(0, m * NUMS);
    copy.ints = this.ints.slice(0, m * INTS);
    if (this.texts > 0) {
      copy.text = this.text.slice(0, n);
      copy.texts = this.texts;
    }
    copy.names = this.names.slice(0, n);
    copy.exact = this.exact.slice(0, n);
    copy.balances = this.balances.slice(0, this.nBalances);
    copy.nBalances = this.nBalances;
    copy.sides = this.sides.slice(0, Math.max(this.nBalances, 1) * SIDES);
    copy.versionFrom = this.versionFrom.slice();
    copy.versions = this.versions.slice();
    copy.lastVersion = this.lastVersion;
    copy.entitlements = this.entitlements.slice();
    return copy;
  }

  /**
   * The entries as a batch a store keeps (like `snapshot`), leaving this
   * ledger empty: its columns are handed over instead of copied when they are
   * mostly full, and this ledger goes on in columns a kept batch gave back
   * (`release`) or new ones.
   */
  take(): Ledger {
    if (this.length * 2 < this.room) {
      const copy = this.snapshot();
      this.clear();
      return copy;
    }
    const kept = new Ledger(this.lanes, 1);
    kept.length = this.length;
    kept.room = this.room;
    kept.rows = this.rows;
    kept.full = this.full;
    kept.nums = this.nums;
    kept.ints = this.ints;
    kept.text = this.text;
    kept.texts = this.texts;
    kept.names = this.names;
    kept.exact = this.exact;
    kept.balances = this.balances;
    kept.nBalances = this.nBalances;
    kept.sides = this.sides;
    kept.versionFrom = this.versionFrom;
    kept.versions = this.versions;
    kept.lastVersion = this.lastVersion;
    kept.entitlements = this.entitlements.slice();
    kept.spare = this.spare;
    const given = this.spare.pop();
    if (given !== undefined && given.room >= this.room) {
      this.nums = given.nums;
      this.ints = given.ints;
      this.room = given.room;
      this.sides = given.sides;
      this.balances = given.balances;
    } else {
      this.nums = new Float64Array(this.room * NUMS);
      this.ints = new Int32Array(this.room * INTS);
      this.sides = new Float64Array(Math.max(64, this.nBalances) * SIDES);
      this.balances = [];
    }
    this.full = [];
    this.rows = 0;
    this.text = [];
    this.texts = 0;
    this.names = [];
    this.exact = [];
    this.versionFrom = [];
    this.versions = [];
    this.clear();
    return kept;
  }

  /** A batch from `take` is no longer read: its columns may be reused by the ledger it came from. */
  release(): void {
    if (this.spare.length < MAX_SPARE && this.room > 0)
      this.spare.push({
        nums: this.nums,
        ints: this.ints,
        sides: this.sides,
        balances: this.balances,
        room: this.room,
      });
    this.spare = [];
    this.length = 0;
    this.room = 0;
    this.nums = EMPTY_NUMS;
    this.ints = EMPTY_INTS;
    this.sides = EMPTY_NUMS;
    this.balances = [];
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
    this.spends = 0;
    this.versionFrom.length = 0;
    this.versions.length = 0;
    this.lastVersion = Number.NaN;
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

  private setText(i: number, id: string): void {
    this.nums[i * NUMS + ID] = Number.NaN;
    this.text[i] = id;
    this.texts++;
  }

  private idAt(i: number): string | number {
    const n = this.nums[i * NUMS + ID] as number;
    return Number.isNaN(n) ? (this.text[i] as string) : n;
  }

  private customerAt(i: number): string {
    const wid = this.sides[(this.ints[i * INTS + BASE] as number) * SIDES + WID] as number;
    if (wid < 0) return this.names[i] as string;
    return ((this.lanes as WalletLanes).accounts[wid] as { customer: string }).customer;
  }

  /** Debits from entry `i` on are made by `version`. */
  private versionAt(i: number, version: number): void {
    this.versionFrom.push(i);
    this.versions.push(version);
    this.lastVersion = version;
  }

  private versionOf(i: number): number {
    let k = this.versionFrom.length - 1;
    while (k > 0 && (this.versionFrom[k] as number) > i) k--;
    return this.versions[k] as number;
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
    // The spend before this entry: after it, less its atoms (see `next`).
    const b = this.balance(
      lanes.bases[wid] as bigint,
      wid,
      (this.next[2] as number) - (this.next[1] as number),
    );
    if (b + 1 < BATCH_SPAN) lanes.row[at] = tag + b + 1;
    return b;
  }

  private balance(value: bigint, wid: number, spent: number): number {
    const b = this.nBalances++;
    this.balances[b] = value;
    if ((b + 1) * SIDES > this.sides.length) this.sides = resized(this.sides, this.sides.length * 2);
    this.sides[b * SIDES + WID] = wid;
    this.sides[b * SIDES + SPENT_BEFORE] = spent;
    return b;
  }

  /**
   * The unfolded spend of entry `i`'s account after it (a number-lane
   * debit): worked out for the entries not done yet, in order, once.
   */
  private spendAt(i: number): number {
    if (i >= this.spends) {
      const n = this.length;
      if (this.spendCache.length < n)
        this.spendCache = resized(this.spendCache, Math.max(n, 64, this.spendCache.length * 2));
      if (this.runs.length < this.nBalances)
        this.runs = resized(this.runs, Math.max(this.nBalances, 64, this.runs.length * 2));
      const cache = this.spendCache;
      const runs = this.runs;
      if (this.spends === 0) this.started = 0;
      for (let b = this.started; b < this.nBalances; b++)
        runs[b] = this.sides[b * SIDES + SPENT_BEFORE] as number;
      this.started = this.nBalances;
      for (let j = this.spends; j < n; j++) {
        // Rows of other kinds have NaN atoms; a noted debit keeps its numbers and still counts.
        const quick = this.nums[j * NUMS + QUICK] as number;
        if (Number.isNaN(quick)) continue;
        const b = this.ints[j * INTS + BASE] as number;
        const spent = (runs[b] as number) + quick;
        runs[b] = spent;
        cache[j] = spent;
      }
      this.spends = n;
    }
    return this.spendCache[i] as number;
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
    if (i === this.room) this.grow();
    return i;
  }

  private grow(): void {
    this.room *= 2;
    this.nums = resized(this.nums, this.room * NUMS);
    this.ints = resized(this.ints, this.room * INTS);
  }
}

/** Columns a taken batch gave back. */
interface Spare {
  nums: Float64Array<ArrayBuffer>;
  ints: Int32Array<ArrayBuffer>;
  sides: Float64Array<ArrayBuffer>;
  /** Overwritten from the start (stale values past a ledger's `nBalances` are never read). */
  balances: bigint[];
  room: number;
}

/** Numbers of an entry (see `Ledger.nums`). */
const NUMS = 3;
const ID = 0;
const AT = 1;
const QUICK = 2;
/** Small integers of an entry (see `Ledger.ints`). */
const INTS = 2;
const BASE = 0;
const ENT = 1;
/** Numbers per base balance (see `Ledger.sides`). */
const SIDES = 2;
const WID = 0;
const SPENT_BEFORE = 1;
/** Columns kept for reuse per ledger. */
const MAX_SPARE = 2;
const EMPTY_NUMS = new Float64Array(0);
const EMPTY_INTS = new Int32Array(0);

/** Entries of `balances` a batch may mark in the lanes (more are added unmarked). */
const BATCH_SPAN = 2 ** 24;
/** Batches before the marks are cleared and numbering starts again (marks stay below 2^53). */
const MAX_BATCH = 2 ** 28;

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
