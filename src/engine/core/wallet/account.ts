import { resized } from "../engine/typed-arrays.js";
import { minAtoms } from "./amount.js";
import { burnOrder, type Lot, type Sink, type WalletHold, type WalletTerms } from "./ledger.js";
import type { WalletTxKind } from "./model.js";
import { grantExpiry, grantPeriod, nextGrant } from "./schedule.js";

export {
  burnOrder,
  Ledger,
  type Lot,
  type Sink,
  type WalletHold,
  type WalletTerms,
  type WalletTx,
} from "./ledger.js";

/**
 * One customer's wallet (SPEC §12, R17): lots of funds burnt in the order of
 * R12 (see ledger.ts), holds of reservations, and the ledger transactions
 * each change produces. Pure: time and the bundle version come in as
 * arguments, transactions go out through `sink`, and the balance is, by
 * construction, the sum of the transactions.
 */
export class WalletAccount {
  /** Where this account's hot figures live (see `WalletLanes`), at `index`. */
  readonly lanes: WalletLanes;
  readonly index: number;
  baseAvailable = 0n;
  readonly baseLots: Lot[] = [];
  reserved = 0n;
  readonly holds = new Map<string, WalletHold>();

  constructor(
    readonly customer: string,
    public terms: WalletTerms,
    readonly openedAt: number,
    lanes: WalletLanes = new WalletLanes(),
  ) {
    this.lanes = lanes;
    this.index = lanes.add(this);
    this.available = -terms.minimum;
  }

  /**
   * Atoms taken by `spendQuick` since the last fold (an exact integer below
   * 2^53). The decision path debits there with number arithmetic; `balance`,
   * `available` and `lots` apply it (fold) before they are read or changed,
   * so every reader sees the exact figures. See `baseBalance`.
   */
  get spent(): number {
    return this.lanes.get(this.index, SPENT);
  }

  /** The balance as of the last fold: the exact balance is this less `spent`. */
  get baseBalance(): bigint {
    return this.lanes.bases[this.index] as bigint;
  }

  /** Next recurring grant boundary (Infinity: none scheduled). */
  get nextGrantAt(): number {
    return this.lanes.getCold(this.index, GRANT_AT);
  }

  set nextGrantAt(at: number) {
    this.lanes.setDue(this.index, GRANT_AT, at);
    this.lanes.changed(this.index);
  }

  /** Earliest lot or hold expiry. */
  get nextExpiry(): number {
    return this.lanes.getCold(this.index, EXPIRY);
  }

  set nextExpiry(at: number) {
    this.lanes.setDue(this.index, EXPIRY, at);
    this.lanes.changed(this.index);
  }

  get balance(): bigint {
    if (this.spent !== 0) this.fold();
    return this.baseBalance;
  }

  set balance(v: bigint) {
    if (this.spent !== 0) this.fold();
    this.lanes.bases[this.index] = v;
    this.lanes.changed(this.index);
  }

  /** available = balance - minimum - reserved, kept up to date for the decision path. */
  get available(): bigint {
    if (this.spent !== 0) this.fold();
    return this.baseAvailable;
  }

  set available(v: bigint) {
    if (this.spent !== 0) this.fold();
    this.baseAvailable = v;
    this.lanes.set(this.index, ROOM, roomOf(v));
    this.lanes.changed(this.index);
  }

  /** In burn order. */
  get lots(): Lot[] {
    if (this.spent !== 0) this.fold();
    this.lanes.changed(this.index);
    return this.baseLots;
  }

  /**
   * Whether a debit of `atoms` (a safe integer > 0) fits in what was
   * available at the last fold: true means `available` covers it exactly;
   * false only that the exact (BigInt) check must decide.
   */
  covers(atoms: number): boolean {
    return this.lanes.covers(this.index, atoms);
  }

  /** Debit `atoms` that `covers` accepted, on the number lane (the ledger records it with `debitQuick`). */
  spendQuick(atoms: number): void {
    const i = this.index;
    this.lanes.set(i, SPENT, this.lanes.get(i, SPENT) + atoms);
  }

  /** Apply `spent` to the balance, available and lots (burn order, R12): as if each debit had been applied in turn. */
  fold(): void {
    const lanes = this.lanes;
    const i = this.index;
    const atoms = BigInt(lanes.get(i, SPENT));
    lanes.set(i, SPENT, 0);
    lanes.bases[i] = (lanes.bases[i] as bigint) - atoms;
    lanes.changed(i);
    this.baseAvailable -= atoms;
    lanes.set(i, ROOM, roomOf(this.baseAvailable));
    const first = this.baseLots[0];
    if (first !== undefined && first.remaining > atoms) first.remaining -= atoms;
    else this.burn(atoms);
  }

  /** Terms changed (a reload, a plan change): the reserve and grant follow; the next boundary stays. */
  retune(terms: WalletTerms, now: number): void {
    const hadGrant = this.terms.grant !== null;
    this.terms = terms;
    if (terms.grant === null) this.nextGrantAt = Infinity;
    else if (!hadGrant) this.nextGrantAt = grantPeriod(terms.grant.every, now, this.openedAt, terms.zone).end;
    this.refresh();
  }

  /** Open: the first grant of the current period (and the contract's opening balance). */
  open(now: number, opening: bigint | null, version: number, sink: Sink): void {
    if (opening !== null && opening > 0n)
      this.add(
        "grant",
        "opening",
        `opening:${this.customer}`,
        opening,
        now,
        { priority: 0, expiresAt: Infinity, note: "opening balance" },
        version,
        sink,
      );
    const g = this.terms.grant;
    if (g !== null) {
      const period = grantPeriod(g.every, now, this.openedAt, this.terms.zone);
      this.grant(period.start, version, sink);
      this.nextGrantAt = period.end;
    }
  }

  /** Lazily apply what happened up to `now`, in time order: lot expiries, hold expiries, grants (R6 style). */
  advance(now: number, version: number, sink: Sink): void {
    while (now >= this.nextExpiry || now >= this.nextGrantAt) {
      if (this.nextExpiry <= this.nextGrantAt) this.expire(this.nextExpiry, version, sink);
      else {
        const at = this.nextGrantAt;
        this.clampRollover(at, version, sink);
        this.grant(at, version, sink);
        this.nextGrantAt = nextGrant(
          (this.terms.grant as NonNullable<WalletTerms["grant"]>).every,
          at,
          this.terms.zone,
        );
      }
    }
  }

  /**
   * Debit `amount` atoms (R17): all or nothing, never past `available`.
   * A negative amount (a refund, R5) credits it back. False when refused.
   */
  debit(
    id: string | number,
    amount: bigint,
    at: number,
    version: number,
    entitlement: string | null,
    sink: Sink,
  ): boolean {
    if (amount > 0n && amount > this.available) return false;
    if (amount === 0n) return true;
    if (amount < 0n) {
      this.add(
        "debit",
        "refund",
        `refund:${String(id)}`,
        -amount,
        at,
        { priority: 0, expiresAt: Infinity, note: null },
        version,
        sink,
        id,
        entitlement,
      );
      return true;
    }
    const first = this.lots[0];
    // The common case: the first lot in burn order covers it.
    if (first !== undefined && first.remaining > amount) first.remaining -= amount;
    else this.burn(amount);
    this.balance = this.baseBalance - amount;
    this.available = this.baseAvailable - amount;
    sink.debit(id, this.customer, at, amount, this.baseBalance, version, entitlement);
    return true;
  }

  /** A top-up (`credit`) or a positive adjustment: a new lot. */
  add(
    kind: WalletTxKind,
    source: Lot["source"],
    id: string,
    amount: bigint,
    at: number,
    o: { priority: number; expiresAt: number; note: string | null },
    version: number,
    sink: Sink,
    txId: string | number = id,
    entitlement: string | null = null,
  ): void {
    const lot: Lot = {
      id,
      source,
      remaining: amount,
      priority: o.priority,
      expiresAt: o.expiresAt,
      createdAt: at,
    };
    this.lots.push(lot);
    this.lots.sort(burnOrder);
    this.balance += amount;
    this.refresh();
    sink.push({
      id: txId,
      customer: this.customer,
      kind,
      at,
      amount,
      balanceAfter: this.balance,
      version,
      lot: id,
      entitlement,
      note: o.note,
    });
  }

  /** A negative adjustment: burns lots like a debit, may reach into the reserve but never below zero. */
  withdraw(
    id: string,
    amount: bigint,
    at: number,
    note: string | null,
    version: number,
    sink: Sink,
  ): boolean {
    if (amount > this.balance - this.reserved) return false;
    this.burn(amount);
    this.balance -= amount;
    this.refresh();
    sink.push({
      id,
      customer: this.customer,
      kind: "adjustment",
      at,
      amount: -amount,
      balanceAfter: this.balance,
      version,
      lot: null,
      entitlement: null,
      note,
    });
    return true;
  }

  /** Hold `amount` for a reservation (R8 for wallets): it counts against `available` until freed. */
  hold(id: string, amount: bigint, expiresAt: number): boolean {
    if (amount > this.available) return false;
    this.holds.set(id, { id, amount, expiresAt });
    this.reserved += amount;
    this.available -= amount;
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    return true;
  }

  /** Free a hold; its amount, or null when it was not held. */
  release(id: string): bigint | null {
    const h = this.holds.get(id);
    if (h === undefined) return null;
    this.holds.delete(id);
    this.reserved -= h.amount;
    this.available += h.amount;
    return h.amount;
  }

  private burn(amount: bigint): void {
    // Called with nothing left to fold (fold and debit both come here).
    let left = amount;
    let emptied = 0;
    for (const lot of this.lots) {
      if (left === 0n) break;
      const take = minAtoms(lot.remaining, left);
      lot.remaining -= take;
      left -= take;
      if (lot.remaining === 0n) emptied++;
    }
    if (emptied > 0) this.dropEmpty();
  }

  private dropEmpty(): void {
    let w = 0;
    for (const lot of this.lots) if (lot.remaining > 0n) this.lots[w++] = lot;
    this.lots.length = w;
    this.refresh();
  }

  private grant(at: number, version: number, sink: Sink): void {
    const g = this.terms.grant;
    if (g === null || g.amount === 0n) return;
    const expiresAt = grantExpiry(g.expiresAfter, at, this.terms.zone);
    this.add(
      "grant",
      "grant",
      `grant:${this.customer}:${at}`,
      g.amount,
      at,
      { priority: g.priority, expiresAt, note: null },
      version,
      sink,
    );
  }

  /** At a grant boundary, unspent recurring grants above the rollover max are forfeited (none kept without `rollover`). */
  private clampRollover(at: number, version: number, sink: Sink): void {
    const g = this.terms.grant;
    if (g === null) return;
    let unspent = 0n;
    for (const lot of this.lots) if (lot.source === "grant") unspent += lot.remaining;
    const keep = !g.rollover
      ? 0n
      : g.rolloverMax === null
        ? unspent
        : unspent < g.rolloverMax
          ? unspent
          : g.rolloverMax;
    // Funds held by reservations stay: a clamp never takes the balance under what is reserved.
    let forfeit = unspent - keep;
    const free = this.balance - this.reserved;
    if (forfeit > free) forfeit = free > 0n ? free : 0n;
    if (forfeit <= 0n) return;
    let left = forfeit;
    for (const lot of this.lots) {
      if (lot.source !== "grant" || left === 0n) continue;
      const take = minAtoms(lot.remaining, left);
      lot.remaining -= take;
      left -= take;
    }
    this.balance -= forfeit;
    this.dropEmpty();
    sink.push({
      id: `rollover:${this.customer}:${at}`,
      customer: this.customer,
      kind: "rollover",
      at,
      amount: -forfeit,
      balanceAfter: this.balance,
      version,
      lot: null,
      entitlement: null,
      note: keep > 0n ? "unspent grant above the rollover max" : "unspent grant",
    });
  }

  /** Everything due at `at`: holds free themselves, lots expire (an expiry tx each). */
  private expire(at: number, version: number, sink: Sink): void {
    for (const h of this.holds.values()) if (h.expiresAt <= at) this.release(h.id);
    let changed = false;
    for (const lot of this.lots) {
      if (lot.expiresAt > at) continue;
      changed = true;
      const amount = lot.remaining;
      lot.remaining = 0n;
      this.balance -= amount;
      sink.push({
        id: `expiry:${lot.id}`,
        customer: this.customer,
        kind: "expiry",
        at: lot.expiresAt,
        amount: -amount,
        balanceAfter: this.balance,
        version,
        lot: lot.id,
        entitlement: null,
        note: null,
      });
    }
    if (changed) this.dropEmpty();
    else this.refresh();
  }

  /** A copy of what a debit changes, to undo a debit whose write failed. */
  snapshot(): { balance: bigint; lots: Lot[] } {
    return { balance: this.balance, lots: this.lots.map((l) => ({ ...l })) };
  }

  restore(s: { balance: bigint; lots: Lot[] }): void {
    this.lanes.set(this.index, SPENT, 0);
    this.lots.length = 0;
    for (const l of s.lots) this.lots.push(l);
    this.balance = s.balance;
    this.refresh();
  }

  /** Recompute the derived fields after a change of lots, holds or terms. */
  refresh(): void {
    this.available = this.balance - this.terms.minimum - this.reserved;
    let next = Infinity;
    for (const lot of this.lots) if (lot.expiresAt < next) next = lot.expiresAt;
    for (const h of this.holds.values()) if (h.expiresAt < next) next = h.expiresAt;
    this.nextExpiry = next;
  }
}

const MAX_ROOM = BigInt(Number.MAX_SAFE_INTEGER);

/** `available` as the number lane's room: exact below 2^53, capped above, 0 when none. */
function roomOf(available: bigint): number {
  return available <= 0n ? 0 : available >= MAX_ROOM ? Number.MAX_SAFE_INTEGER : Number(available);
}

/**
 * Where each hot figure of an account is in its row of `WalletLanes.row`:
 * one row of `LANE` numbers per account (32 bytes: two accounts a cache
 * line), so a decision that reads and changes a wallet touches one cache
 * line, not one per figure; the rest is in `WalletLanes.cold`.
 */
/** See `WalletAccount.spent`. */
export const SPENT = 0;
/** How far `spent` may go with no fold: `available` at the last fold as a number (capped at 2^53 - 1), 0 when none. */
export const ROOM = 1;
/** When something falls due: the earlier of the next grant and the next expiry (see `COLD`). */
export const DUE = 2;
/**
 * Where the base balance is in the table of the ledger that records these
 * accounts' number-lane debits, marked with that ledger's batch (see
 * `Ledger.baseIndex`; one such ledger per lanes); 0 when not there: cleared
 * by every change.
 */
export const SINK_AT = 3;
/** Numbers per account in `row` (32 bytes). */
export const LANE = 4;

// Where the other figures of an account are in its row of `WalletLanes.cold`.
/** Next recurring grant boundary. */
export const GRANT_AT = 0;
/** Earliest lot or hold expiry. */
export const EXPIRY = 1;
/** Bumped by every change other than a number-lane debit (a store's copy of the rest is current while it holds). */
export const EPOCH = 2;
/** Numbers per account in `cold`. */
export const COLD = 4;

/**
 * The hot figures of a set of accounts (one engine's), by account index, in
 * one typed array (see `LANE`): what a decision reads and changes of a
 * wallet without touching the account object.
 */
export class WalletLanes {
  length = 0;
  readonly accounts: WalletAccount[] = [];
  /** Account `i`'s hot figures are `row[i * LANE + SPENT]` and so on. */
  row = new Float64Array(64 * LANE);
  /** Its other figures, `cold[i * COLD + GRANT_AT]` and so on. */
  cold = new Float64Array(64 * COLD);
  /** See `WalletAccount.baseBalance`. */
  readonly bases: bigint[] = [];

  add(acc: WalletAccount): number {
    const i = this.length++;
    const at = i * LANE;
    if (at === this.row.length) {
      this.row = resized(this.row, at * 2);
      this.cold = resized(this.cold, i * 2 * COLD);
    }
    this.accounts.push(acc);
    this.bases.push(0n);
    this.row[at + DUE] = Infinity;
    this.cold[i * COLD + GRANT_AT] = Infinity;
    this.cold[i * COLD + EXPIRY] = Infinity;
    return i;
  }

  /** Hot figure `field` of account `i`. */
  get(i: number, field: number): number {
    return this.row[i * LANE + field] as number;
  }

  set(i: number, field: number, value: number): void {
    this.row[i * LANE + field] = value;
  }

  /** Other figure `field` of account `i`. */
  getCold(i: number, field: number): number {
    return this.cold[i * COLD + field] as number;
  }

  /** Set its next grant or expiry (and when something falls due). */
  setDue(i: number, field: typeof GRANT_AT | typeof EXPIRY, at: number): void {
    const c = i * COLD;
    this.cold[c + field] = at;
    this.row[i * LANE + DUE] = Math.min(this.cold[c + GRANT_AT] as number, this.cold[c + EXPIRY] as number);
  }

  /** Something other than a number-lane debit changed account `i`. */
  changed(i: number): void {
    const at = i * COLD + EPOCH;
    this.cold[at] = (this.cold[at] as number) + 1;
    this.row[i * LANE + SINK_AT] = 0;
  }

  covers(i: number, atoms: number): boolean {
    const row = this.row;
    const at = i * LANE;
    return (row[at + SPENT] as number) + atoms <= (row[at + ROOM] as number);
  }
}
