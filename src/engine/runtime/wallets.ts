import type { PlanHistory } from "../core/engine/resolve.js";
import { resized } from "../core/engine/typed-arrays.js";
import { InputError } from "../core/errors.js";
import type { PropertyValue } from "../core/model.js";
import {
  LANE,
  Ledger,
  type Lot,
  SPENT,
  WalletAccount,
  WalletLanes,
  type WalletTerms,
  type WalletTx,
} from "../core/wallet/account.js";
import { fromAtoms, toAtoms } from "../core/wallet/amount.js";
import { effectiveWallet } from "../core/wallet/compile.js";
import { pricerFor, walletAmount } from "../core/wallet/quantity.js";
import {
  txRow,
  type WalletBatch,
  type WalletRow,
  type WalletStore,
  type WalletTxRow,
} from "../core/wallet/store-rows.js";
import type { PolicyState } from "./policy-state.js";
import type { Slot } from "./slot.js";
import { restoreAccount, termsOf, walletRow } from "./wallet-rows.js";

/** What `limitr.balance()` reports (decimal strings in the wallet's unit). */
export interface WalletBalance {
  customer: string;
  unit: string;
  balance: string;
  /** balance - minimum - reserved: what calls can still spend (may be negative after an expiry). */
  available: string;
  minimum: string;
  reserved: string;
  /** Lots in burn order (R12): grants, top-ups, adjustments. */
  grants: {
    id: string;
    source: Lot["source"];
    remaining: string;
    priority: number;
    expiresAt: string | null;
    createdAt: string;
  }[];
}

/** A ledger transaction as the API returns it. */
export type WalletTransaction = WalletTxRow;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The engine's wallets (SPEC §12): one `WalletAccount` per customer, opened
 * lazily on first use under the terms of the customer's plan and contract,
 * restored from the store, and queued for the write-behind like counters.
 * Transactions made since the last flush wait in `sink`.
 */
export class Wallets {
  /** Transactions since the last flush: debits as columns, other kinds as rows (see Ledger). */
  readonly sink: Ledger;
  /** Top-ups and adjustments not flushed yet, by customer and id (their idempotency before the store has them). */
  private readonly explicit = new Map<string, WalletTx>();
  /** The accounts queued for the next flush: a bit per index in `lanes` (a few kB, always in cache), `nDirty` of them set. */
  private dirty = new Int32Array(8);
  private nDirty = 0;
  /** Their indexes in ascending order, listed by `batch`. */
  private dirtyIds = new Float64Array(64);
  /** The accounts' hot figures (every account this engine opened, by `WalletAccount.index`). */
  readonly lanes = new WalletLanes();
  /**
   * The lanes the decision path may debit directly (`spendQuick`), or null
   * when every debit must go through `debitDone` (a wallet shared by engines).
   */
  get quickLanes(): WalletLanes | null {
    return this.lanes;
  }
  private readonly accounts = new Map<string, WalletAccount>();
  protected readonly restored = new Map<string, WalletRow>();
  /** Per account: the policy state and terms text it was last tuned to. */
  private readonly tuned = new WeakMap<
    WalletAccount,
    { state: PolicyState; plan: string | null; key: string }
  >();

  constructor(
    protected state: () => PolicyState,
    protected readonly history: PlanHistory,
    protected readonly idPrefix: string,
    rows: WalletRow[],
  ) {
    this.sink = new Ledger(this.lanes);
    for (const r of rows) this.restored.set(r.customer, r);
  }

  /** A prepaid slot's wallet and how its calls are priced (at slot resolution, never per call). */
  attach(slot: Slot, now: number): void {
    const acc = this.account(slot.customer, now);
    slot.wallet = acc;
    slot.pricer = acc === null ? null : pricerFor(this.state().policy, acc.terms.unit, slot.eff);
  }

  /**
   * The customer's wallet brought to `now` (grants, expiries), opened on
   * first use; null when neither plan nor contract gives the customer one.
   */
  account(customer: string, now: number): WalletAccount | null {
    const state = this.state();
    let acc = this.accounts.get(customer) ?? null;
    const t = acc === null ? undefined : this.tuned.get(acc);
    // A plan change (or a policy reload) may bring other wallet terms.
    const plan = state.index.planAt(customer, now, this.history).plan;
    if (acc === null || t?.state !== state || t.plan !== plan) {
      const eff = effectiveWallet(state.policy, plan, customer);
      if (eff === null) return acc;
      const terms = termsOf(eff, state.zone);
      const key = JSON.stringify(eff);
      if (acc === null) acc = this.open(customer, terms, eff.openingBalance, now, state.version);
      else if (t?.key !== key) {
        acc.retune(terms, now);
        this.touch(acc);
      }
      this.tuned.set(acc, { state, plan, key });
    }
    this.advance(acc, now);
    return acc;
  }

  /** Apply what fell due up to `now` (cheap to call: two comparisons when nothing did). */
  advance(acc: WalletAccount, now: number): void {
    if (now < acc.nextExpiry && now < acc.nextGrantAt) return;
    const before = this.sink.length;
    const reserved = acc.reserved;
    acc.advance(now, this.state().version, this.sink);
    if (this.sink.length !== before || acc.reserved !== reserved) this.touch(acc);
  }

  /** Queue a wallet for the next flush. */
  touch(acc: WalletAccount): void {
    this.touchAt(acc.index);
  }

  /** Queue account `wid` of the lanes (without reading the account object). */
  private touchAt(wid: number): void {
    const w = wid >>> 5;
    if (w >= this.dirty.length) this.dirty = resized(this.dirty, Math.max(w + 1, this.dirty.length * 2));
    const word = this.dirty[w] as number;
    const bit = 1 << (wid & 31);
    if ((word & bit) !== 0) return;
    this.dirty[w] = word | bit;
    this.nDirty++;
  }

  /**
   * Debit work already done (`record`, `settle`): what it costs, or what
   * `available` allows when it costs more (R17: never below the reserve);
   * the shortfall is noted on the ledger row.
   */
  debitDone(acc: WalletAccount, id: string | number, cost: bigint, at: number, entitlement: string): void {
    const avail = acc.available > 0n ? acc.available : 0n;
    const take = cost > avail ? avail : cost;
    const before = this.sink.length;
    acc.debit(id, take, at, this.state().version, entitlement, this.sink);
    if (take !== cost && this.sink.length > before)
      this.sink.note(
        this.sink.length - 1,
        `short by ${fromAtoms(cost - take)}: the wallet could not cover the work done`,
      );
    this.touch(acc);
  }

  /**
   * The time and atoms of the next `spendQuick` (see `Ledger.next`: numbers
   * the decision path passes without boxing them).
   */
  readonly quickArgs = new Float64Array(2);

  /**
   * A decision's debit of `quickArgs[1]` atoms at `quickArgs[0]` from account
   * `wid`, which `lanes.covers` accepted: taken on the account's number lane
   * and recorded as a ledger row built when read. Touches no account object.
   */
  spendQuick(wid: number, id: string | number, entitlement: string): void {
    const args = this.quickArgs;
    const atoms = args[1] as number;
    const row = this.lanes.row;
    const w = wid * LANE;
    const spent = (row[w + SPENT] as number) + atoms;
    row[w + SPENT] = spent;
    const sink = this.sink;
    const next = sink.next;
    next[0] = args[0] as number;
    next[1] = atoms;
    next[2] = spent;
    sink.appendQuick(id, wid, this.state().version, entitlement);
    this.touchAt(wid);
  }

  /** Balance and available funds of a customer's wallet in atoms (live alerts); null without one. */
  figures(customer: string, now: number): { balance: bigint; available: bigint } | null {
    const acc = this.account(customer, now);
    return acc === null ? null : { balance: acc.balance, available: acc.available };
  }

  /**
   * The reason a prepaid call that costs more than the wallet's `available`
   * is denied (a wallet shared by engines may fetch more and answer `lease_pending`).
   */
  short(_acc: WalletAccount, _cost: bigint): "insufficient_balance" | "lease_pending" {
    return "insufficient_balance";
  }

  /** Undo a debit whose synchronous write failed: the account as before, its ledger row dropped. */
  undo(acc: WalletAccount, before: ReturnType<WalletAccount["snapshot"]>, mark: number): void {
    acc.restore(before);
    this.sink.truncate(mark);
  }

  /** `record()` counted work on a slot: a prepaid one debits the wallet for it (R17). */
  recorded(
    slot: Slot,
    c: { amount: number; used: number },
    id: string,
    at: number,
    properties: Readonly<Record<string, PropertyValue>> | null | undefined,
  ): void {
    const acc = slot.wallet;
    if (slot.eff.mode !== "prepaid" || acc === null || slot.pricer === null || c.amount === 0) return;
    this.advance(acc, at);
    const events = slot.counter === null ? 0 : Math.max(0, slot.counter.events - 1);
    const cost = walletAmount(slot.pricer, c.used - c.amount, c.amount, events, properties);
    if (cost !== null) this.debitDone(acc, `${id}:${slot.entitlement}`, cost, at, slot.entitlement);
  }

  balance(customer: string, now: number): WalletBalance {
    const acc = this.require(customer, now);
    return {
      customer,
      unit: acc.terms.unit,
      balance: fromAtoms(acc.balance),
      available: fromAtoms(acc.available),
      minimum: fromAtoms(acc.terms.minimum),
      reserved: fromAtoms(acc.reserved),
      grants: acc.lots.map((l) => ({
        id: l.id,
        source: l.source,
        remaining: fromAtoms(l.remaining),
        priority: l.priority,
        expiresAt: l.expiresAt === Infinity ? null : iso(l.expiresAt),
        createdAt: iso(l.createdAt),
      })),
    };
  }

  /**
   * A top-up (a `credit` transaction and a lot). Idempotent by id (R17): a
   * known id returns its transaction and credits nothing.
   */
  topUp(
    customer: string,
    amount: bigint,
    o: { id: string; expiresAt: number; priority: number; note: string | null },
    now: number,
    store: WalletStore,
  ): { transaction: WalletTransaction; duplicate: boolean } {
    if (amount <= 0n) throw new InputError(`top-up amount must be > 0 (got ${fromAtoms(amount)})`);
    if (o.expiresAt <= now) throw new InputError("top-up expiresAt must be in the future");
    const known = this.known(customer, o.id, store);
    if (known !== null) return { transaction: known, duplicate: true };
    return { transaction: this.credit(customer, amount, o, now), duplicate: false };
  }

  /** A new top-up's credit, its checks passed and its id new. */
  protected credit(
    customer: string,
    amount: bigint,
    o: { id: string; expiresAt: number; priority: number; note: string | null },
    now: number,
  ): WalletTransaction {
    const acc = this.require(customer, now);
    acc.add("credit", "topup", o.id, amount, now, o, this.state().version, this.sink);
    const tx = this.sink.last() as WalletTx;
    this.explicit.set(`${customer}\u0000${o.id}`, tx);
    this.touch(acc);
    return this.row(tx);
  }

  /** An operator's correction, positive (a lot) or negative (burnt like a debit, never below zero). */
  adjust(
    customer: string,
    amount: bigint,
    o: { id: string; note: string },
    now: number,
    store: WalletStore,
  ): { transaction: WalletTransaction; duplicate: boolean } {
    if (amount === 0n) throw new InputError("adjustment amount must not be 0");
    const known = this.known(customer, o.id, store);
    if (known !== null) return { transaction: known, duplicate: true };
    return { transaction: this.correct(customer, amount, o, now), duplicate: false };
  }

  /** A new adjustment, its id new. */
  protected correct(
    customer: string,
    amount: bigint,
    o: { id: string; note: string },
    now: number,
  ): WalletTransaction {
    const acc = this.require(customer, now);
    const version = this.state().version;
    if (amount > 0n)
      acc.add(
        "adjustment",
        "adjustment",
        o.id,
        amount,
        now,
        { priority: 0, expiresAt: Infinity, note: o.note },
        version,
        this.sink,
      );
    else if (!acc.withdraw(o.id, -amount, now, o.note, version, this.sink))
      throw new InputError(
        `cannot take ${fromAtoms(-amount)} from ${customer}'s wallet: its balance less reservations is ${fromAtoms(acc.balance - acc.reserved)}`,
      );
    const tx = this.sink.last() as WalletTx;
    this.explicit.set(`${customer}\u0000${o.id}`, tx);
    this.touch(acc);
    return this.row(tx);
  }

  /** Ledger rows of a customer in [from, to): the store's and those not flushed yet. */
  transactions(customer: string, from: number, to: number, store: WalletStore): WalletTransaction[] {
    const out = store.walletTransactions(customer, from, to);
    const seen = new Set(out.map((t) => t.id));
    const sink = this.sink;
    for (let i = 0; i < sink.length; i++) {
      const at = sink.time(i);
      if (sink.customer(i) !== customer || at < from || at >= to) continue;
      const row = this.row(sink.tx(i));
      if (!seen.has(row.id)) out.push(row);
    }
    return out;
  }

  /** A transaction with this id, pending or stored, or null. */
  protected known(customer: string, id: string, store: WalletStore): WalletTransaction | null {
    const pending = this.explicit.get(`${customer}\u0000${id}`);
    if (pending !== undefined) return this.row(pending);
    return store.walletTransaction(customer, id);
  }

  /** A wallet that must exist for an API call (top-up, adjustment, balance). */
  require(customer: string, now: number): WalletAccount {
    const acc = this.account(customer, now);
    if (acc === null)
      throw new InputError(
        `customer ${customer} has no wallet: give its plan (or its contract) a wallet: section`,
      );
    return acc;
  }

  /** Parse an API amount into atoms (a decimal string or number, up to 12 places). */
  static amount(what: string, value: unknown): bigint {
    const atoms = typeof value === "string" || typeof value === "number" ? toAtoms(value) : null;
    if (atoms === null)
      throw new InputError(`${what} must be a decimal number with up to 12 places (got ${String(value)})`);
    return atoms;
  }

  get pending(): boolean {
    return this.sink.length > 0 || this.nDirty > 0;
  }

  /**
   * The queued transactions and wallets. A store that keeps columns (the
   * memory store) takes `ledger` and `accountIds` as they are; the rows
   * (`transactions`, `wallets`) are built when first read, which must be
   * inside the store's `write` (the engine forgets the batch once written).
   */
  batch(): WalletBatch {
    const sink = this.sink;
    if (this.dirtyIds.length < this.nDirty) this.dirtyIds = new Float64Array(this.nDirty * 2);
    // In account order: a store visits the accounts' rows front to back, not at random.
    const ids = this.dirtyIds.subarray(0, setBits(this.dirty, this.dirtyIds));
    const accounts = this.lanes.accounts;
    const prefix = this.idPrefix;
    let transactions: WalletTxRow[] | null = null;
    let wallets: WalletRow[] | null = null;
    return {
      get transactions(): WalletTxRow[] {
        if (transactions === null) {
          transactions = new Array(sink.length);
          for (let i = 0; i < sink.length; i++) transactions[i] = txRow(sink.tx(i), prefix);
        }
        return transactions;
      },
      get wallets(): WalletRow[] {
        if (wallets === null) {
          wallets = new Array(ids.length);
          for (let i = 0; i < ids.length; i++)
            wallets[i] = walletRow(accounts[ids[i] as number] as WalletAccount);
        }
        return wallets;
      },
      ledger: sink,
      idPrefix: this.idPrefix,
      lanes: this.lanes,
      accountIds: ids,
    };
  }

  row(t: WalletTx): WalletTxRow {
    return txRow(t, this.idPrefix);
  }

  committed(): void {
    this.sink.clear();
    this.explicit.clear();
    // Emptied in place (a store reads a batch inside its `write`): nothing allocated every flush.
    if (this.nDirty > 0) this.dirty.fill(0);
    this.nDirty = 0;
  }

  /** After a lost store lease was taken back: the store's wallets are the truth. */
  reload(store: WalletStore): void {
    this.committed();
    this.accounts.clear();
    this.restored.clear();
    for (const r of store.loadWallets()) this.restored.set(r.customer, r);
  }

  private open(
    customer: string,
    terms: WalletTerms,
    opening: string | null,
    now: number,
    version: number,
  ): WalletAccount {
    const row = this.restored.get(customer);
    let acc: WalletAccount;
    if (row !== undefined) {
      this.restored.delete(customer);
      acc = restoreAccount(row, terms, this.lanes);
    } else {
      acc = new WalletAccount(customer, terms, now, this.lanes);
      acc.open(now, opening === null ? null : toAtoms(opening), version, this.sink);
      this.touch(acc);
    }
    this.accounts.set(customer, acc);
    return acc;
  }
}

/** Write the positions of the set bits of `bits` into `out` (room for all of them), ascending; their number. */
export function setBits(bits: Int32Array, out: Float64Array): number {
  let k = 0;
  for (let w = 0; w < bits.length; w++) {
    let word = bits[w] as number;
    while (word !== 0) {
      const low = word & -word;
      out[k++] = (w << 5) + (31 - Math.clz32(low));
      word ^= low;
    }
  }
  return k;
}
