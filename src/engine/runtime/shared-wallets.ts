import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { PgLocation } from "../adapters/store/postgres/url.js";
import { demandRate } from "../core/engine/lease.js";
import type { PlanHistory } from "../core/engine/resolve.js";
import { InputError } from "../core/errors.js";
import { type Lot, WalletAccount, type WalletTerms } from "../core/wallet/account.js";
import { fromAtoms, toAtoms } from "../core/wallet/amount.js";
import { effectiveWallet } from "../core/wallet/compile.js";
import { Ledger } from "../core/wallet/ledger.js";
import type { WalletBatch, WalletRow, WalletStore, WalletTxRow } from "../core/wallet/store-rows.js";
import type { PolicyState } from "./policy-state.js";
import { PgWalletPools } from "./wallet-leases-pg.js";
import type { PoolReply, PoolRequest, WalletIntent, WalletLeaseParams } from "./wallet-pool.js";
import { restoreAccount, termsOf } from "./wallet-rows.js";
import { type WalletBalance, Wallets, type WalletTransaction } from "./wallets.js";
import { generatedId } from "./write-behind.js";

/** Options of wallets shared through a Postgres store. */
export interface SharedWalletOptions {
  /** A lease not renewed within this time is reclaimed (default 10 s). */
  ttlMs?: number;
  /** Smallest slice, in the wallet's unit (default "0.01"). */
  minSlice?: string;
  /** The engine's clock (its `now` option): grants and expiries fall due by it. Default `Date.now`. */
  clock?: () => number;
}

const RATE_HALF_LIFE_MS = 2_000;
const bigintText = (_: string, x: unknown) => (typeof x === "bigint" ? x.toString() : x);
const IDLE_RENEWALS = 4;

/** One customer's wallet as this engine sees it between syncs. */
interface View {
  readonly customer: string;
  /** What the decision path reads: `available` = the lease allowance not yet spent, less local holds. */
  readonly acc: WalletAccount;
  terms: WalletTerms;
  opening: bigint | null;
  version: number;
  /** Atoms of the lease this engine may still spend (holds included). */
  allowance: bigint;
  /** Changes made since the last sync, in order. */
  intents: WalletIntent[];
  /** Atoms a denied call wanted beyond the allowance (0 with `wanted`: a refill). */
  need: bigint;
  wanted: boolean;
  busy: boolean;
  /** Leased atoms spent while a sync was out (the reply's allowance does not know them). */
  spentWhileOut: bigint;
  /** Costs of the debits and credits not yet synced (the balance shown is the last synced one plus these). */
  pendingDelta: bigint;
  deadline: number;
  /**
   * The wallet time (engine clock) up to which the lease's funds are known
   * to stay in the wallet (the pool leases nothing that expires or is
   * forfeited before it): past it, the slice is fetched again.
   */
  horizon: number;
  renewedAt: number;
  idle: number;
  spentSinceRenewal: boolean;
  rate: number;
  rateAt: number;
  spentForRate: bigint;
  remainder: bigint;
  seenAt: number;
  low: bigint;
  /** Last synced balance and lots (what `balance()` shows, with `pendingDelta`). */
  balance: bigint;
  lots: Lot[];
  waiters: (() => void)[];
  /** Ledger rows of this customer this engine wrote since open. */
  written: WalletTxRow[];
  /** A sync answered for this wallet (its row exists in the store). */
  synced: boolean;
}

/**
 * Wallets shared by every engine on one Postgres store (SPEC §12, R16).
 * The wallet's balance and ledger live in Postgres and are changed only by
 * a sync (`settlePool`, under the wallet row's lock). Each engine leases a
 * slice of the wallet's available funds and debits from it locally and
 * synchronously, like a hard limit's quota lease: a call the slice cannot
 * cover is denied with `lease_pending` while more is fetched
 * (`allowAsync`/`decideAsync` wait for it). Debits, top-ups and adjustments
 * go to Postgres in the next sync (every tick), idempotent by (customer, id).
 */
export class SharedWallets extends Wallets {
  private readonly pools: PgWalletPools;
  private readonly clock: () => number;
  private readonly views = new Map<string, View>();
  private readonly params: WalletLeaseParams;
  private readonly tickMs: number;
  private readonly timer: NodeJS.Timeout;
  /** Syncs out now (each sends only wallets no other one has out). */
  private readonly inFlight = new Set<Promise<void>>();
  private again = false;
  private scheduled = false;
  private closed = false;
  /** The customer of the last call denied `lease_pending` (for allowAsync). */
  lastMiss: string | null = null;
  /** The cost of that call, in atoms. */
  lastCost = 0n;
  lastError: string | null = null;
  syncs = 0;

  constructor(
    state: () => PolicyState,
    history: PlanHistory,
    idPrefix: string,
    rows: WalletRow[],
    location: PgLocation,
    options: SharedWalletOptions = {},
  ) {
    super(state, history, idPrefix, rows);
    const ttlMs = options.ttlMs ?? 10_000;
    if (!(ttlMs >= 400)) throw new InputError(`walletLease.ttlMs must be at least 400 (got ${ttlMs})`);
    const minSlice = toAtoms(options.minSlice ?? "0.01");
    if (minSlice === null || minSlice <= 0n)
      throw new InputError(`walletLease.minSlice must be a positive decimal (got ${options.minSlice})`);
    this.params = { ttlMs, minSlice, horizonMs: 1_000, safetyMs: 2 * ttlMs };
    this.clock = options.clock ?? Date.now;
    this.tickMs = Math.min(250, Math.floor(ttlMs / 8));
    const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.pools = new PgWalletPools(location, holder, this.params);
    this.timer = setInterval(() => this.kick(), this.tickMs);
    this.timer.unref();
  }

  override account(customer: string, now: number): WalletAccount | null {
    const state = this.state();
    const plan = state.index.planAt(customer, now, this.history).plan;
    const eff = effectiveWallet(state.policy, plan, customer);
    let v = this.views.get(customer);
    if (eff === null) return v?.acc ?? null;
    const terms = termsOf(eff, state.zone);
    const opening = eff.openingBalance === null ? null : toAtoms(eff.openingBalance);
    if (v === undefined) {
      v = this.openView(customer, terms, opening, now, state.version);
      this.views.set(customer, v);
      // Lease early: the first calls then find allowance.
      this.want(v, 0n);
    } else {
      // Other terms (a plan change, a reload): a remainder seen under the old ones is not the new one's.
      if (v.terms !== terms && JSON.stringify(v.terms, bigintText) !== JSON.stringify(terms, bigintText))
        v.seenAt = 0;
      v.terms = terms;
      v.opening = opening;
      v.version = state.version;
    }
    return v.acc;
  }

  /** Every debit goes through `debitDone`: it spends this engine's lease of the wallet. */
  override get quickLanes(): null {
    return null;
  }

  /**
   * Grants and expiries are applied by the sync, on the stored wallet. Here,
   * at `now` (wallet time, the engine's clock): reservations past their
   * expiry free their funds back into the slice, and a slice past the
   * horizon it was sized for is dropped (the next call fetches one sized at `now`).
   */
  override advance(acc: WalletAccount, now: number): void {
    const v = this.views.get(acc.customer);
    if (v === undefined || v.acc !== acc) return;
    if (acc.holds.size > 0)
      for (const h of [...acc.holds.values()]) if (h.expiresAt <= now) acc.release(h.id);
    if (now >= v.horizon && (v.allowance > 0n || v.seenAt > 0)) {
      v.allowance = 0n;
      acc.available = -acc.reserved;
      // What the pool had left was seen at another time: ask again.
      v.seenAt = 0;
    }
  }
  override touch(): void {}

  override short(acc: WalletAccount, cost: bigint): "insufficient_balance" | "lease_pending" {
    const v = this.views.get(acc.customer);
    if (v === undefined) return "insufficient_balance";
    this.lastMiss = v.customer;
    this.lastCost = cost;
    const have = acc.available > 0n ? acc.available : 0n;
    if (v.busy) {
      this.want(v, cost - have);
      return "lease_pending";
    }
    // The wallet was seen short within the last tick: no need to ask again.
    if (v.seenAt > 0 && Date.now() - v.seenAt < this.tickMs && have + v.remainder < cost)
      return "insufficient_balance";
    this.want(v, cost - have);
    return "lease_pending";
  }

  /**
   * Hold `amount` of a wallet for a reservation restored after a restart
   * (shared wallets keep no holds in the store): `available` counts it at
   * once, and the next sync asks for a slice that covers it.
   */
  holdAgain(acc: WalletAccount, id: string, amount: bigint, expiresAt: number): void {
    const v = this.views.get(acc.customer);
    if (v === undefined || v.acc !== acc || acc.holds.has(id)) return;
    acc.holds.set(id, { id, amount, expiresAt });
    acc.reserved += amount;
    acc.available -= amount;
    this.want(v, amount);
  }

  /** Ask the pool again for what the last denied call needed (allowAsync after a cached denial). */
  ask(customer: string, cost: bigint): void {
    const v = this.views.get(customer);
    if (v !== undefined && !v.busy) this.want(v, cost > v.acc.available ? cost - v.acc.available : 0n);
  }

  override debitDone(
    acc: WalletAccount,
    id: string | number,
    cost: bigint,
    at: number,
    entitlement: string,
  ): void {
    const v = this.views.get(acc.customer);
    if (v === undefined) return;
    const have = acc.available > 0n ? acc.available : 0n;
    const leased = cost <= 0n ? 0n : cost > have ? have : cost;
    v.allowance -= leased;
    acc.available -= leased;
    if (v.busy) v.spentWhileOut += leased;
    v.pendingDelta -= cost;
    acc.balance = v.balance + v.pendingDelta;
    v.spentForRate += cost > 0n ? cost : 0n;
    v.spentSinceRenewal = true;
    v.intents.push({
      kind: "debit",
      id: typeof id === "string" ? id : generatedId(this.idPrefix, id),
      at,
      leased,
      extra: cost - leased,
      entitlement,
      version: this.state().version,
    });
    if (!v.busy && !v.wanted && v.allowance <= v.low) this.want(v, 0n);
  }

  override undo(): void {
    // Synchronous durability is refused on a Postgres store: there is no write to undo.
  }

  /** The whole wallet's figures (as of the last sync, with this engine's changes since), not this engine's slice. */
  override figures(customer: string, now: number): { balance: bigint; available: bigint } | null {
    if (this.account(customer, now) === null) return null;
    const v = this.views.get(customer) as View;
    const balance = v.balance + v.pendingDelta;
    return { balance, available: balance - v.terms.minimum - v.acc.reserved };
  }

  override balance(customer: string, now: number): WalletBalance {
    this.require(customer, now);
    const v = this.views.get(customer) as View;
    this.advance(v.acc, now);
    const balance = v.balance + v.pendingDelta;
    return {
      customer,
      unit: v.terms.unit,
      balance: fromAtoms(balance),
      available: fromAtoms(balance - v.terms.minimum - v.acc.reserved),
      minimum: fromAtoms(v.terms.minimum),
      reserved: fromAtoms(v.acc.reserved),
      grants: v.lots.map((l) => ({
        id: l.id,
        source: l.source,
        remaining: fromAtoms(l.remaining),
        priority: l.priority,
        expiresAt: l.expiresAt === Infinity ? null : new Date(l.expiresAt).toISOString(),
        createdAt: new Date(l.createdAt).toISOString(),
      })),
    };
  }

  protected override credit(
    customer: string,
    amount: bigint,
    o: { id: string; expiresAt: number; priority: number; note: string | null },
    now: number,
  ): WalletTransaction {
    this.require(customer, now);
    const v = this.views.get(customer) as View;
    const version = this.state().version;
    v.intents.push({ kind: "credit", at: now, amount, ...o, version });
    v.pendingDelta += amount;
    v.acc.balance = v.balance + v.pendingDelta;
    this.want(v, 0n);
    return this.pendingRow(v, o.id, "credit", now, amount, o.id, o.note, version);
  }

  protected override correct(
    customer: string,
    amount: bigint,
    o: { id: string; note: string },
    now: number,
  ): WalletTransaction {
    this.require(customer, now);
    const v = this.views.get(customer) as View;
    const version = this.state().version;
    v.intents.push({ kind: "adjustment", id: o.id, at: now, amount, note: o.note, version });
    v.pendingDelta += amount;
    v.acc.balance = v.balance + v.pendingDelta;
    this.want(v, 0n);
    return this.pendingRow(v, o.id, "adjustment", now, amount, amount > 0n ? o.id : null, o.note, version);
  }

  /** What the store had at open, what this engine wrote since, and its changes not synced yet. */
  override transactions(customer: string, from: number, to: number, store: WalletStore): WalletTransaction[] {
    const out = store.walletTransactions(customer, from, to);
    const seen = new Set(out.map((t) => t.id));
    const v = this.views.get(customer);
    if (v === undefined) return out;
    for (const t of v.written)
      if (t.at >= from && t.at < to && !seen.has(t.id)) {
        seen.add(t.id);
        out.push(t);
      }
    return out.sort((a, b) => a.at - b.at);
  }

  /** Nothing goes through the write-behind: the sync writes shared wallets. */
  override get pending(): boolean {
    return false;
  }
  override batch(): WalletBatch {
    return { transactions: [], wallets: [] };
  }
  override committed(): void {}
  override reload(): void {}

  /** Resolves after the next sync that answers for `customer`. */
  settled(customer: string): Promise<void> {
    const v = this.views.get(customer);
    if (v === undefined || (!v.busy && !v.wanted)) return Promise.resolve();
    return new Promise((resolve) => v.waiters.push(resolve));
  }

  /** Write every change made so far and read every wallet back (a flush): waits for syncs out, then syncs. */
  async flush(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      await Promise.all([...this.inFlight]);
      await this.syncNow(false, round === 0);
      if (![...this.views.values()].some((v) => v.intents.length > 0 || v.busy)) return;
    }
  }

  status(): { wallets: number; allowance: string; syncs: number; lastError: string | null } {
    let allowance = 0n;
    for (const v of this.views.values()) if (v.allowance > 0n) allowance += v.allowance;
    return {
      wallets: this.views.size,
      allowance: fromAtoms(allowance),
      syncs: this.syncs,
      lastError: this.lastError,
    };
  }

  /** Write what is pending and give every lease back. What cannot be sent is reclaimed after the TTL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
    try {
      await this.syncNow(true);
    } finally {
      for (const v of this.views.values()) this.wake(v);
      await this.pools.close();
    }
  }

  closeSync(): void {
    this.closed = true;
    clearInterval(this.timer);
    void this.pools.close();
  }

  private openView(
    customer: string,
    terms: WalletTerms,
    opening: bigint | null,
    now: number,
    version: number,
  ): View {
    const row = this.restored.get(customer);
    let acc: WalletAccount;
    if (row !== undefined) acc = restoreAccount(row, terms);
    else {
      // Shown as a new wallet until the first sync opens the stored one.
      acc = new WalletAccount(customer, terms, now);
      acc.open(now, opening, version, new Ledger());
    }
    const balance = acc.balance;
    const lots = acc.lots.map((l) => ({ ...l }));
    // The decision path spends the lease only; grants and expiries happen in the store.
    acc.available = 0n;
    acc.nextExpiry = Infinity;
    acc.nextGrantAt = Infinity;
    for (const h of [...acc.holds.keys()]) acc.release(h);
    acc.available = 0n;
    return {
      customer,
      acc,
      terms,
      opening,
      version,
      allowance: 0n,
      intents: [],
      need: 0n,
      wanted: false,
      busy: false,
      spentWhileOut: 0n,
      pendingDelta: 0n,
      deadline: 0,
      horizon: 0,
      renewedAt: 0,
      idle: 0,
      spentSinceRenewal: false,
      rate: 0,
      rateAt: 0,
      spentForRate: 0n,
      remainder: 0n,
      seenAt: 0,
      low: -1n,
      balance,
      lots,
      waiters: [],
      written: [],
      synced: this.restored.has(customer),
    };
  }

  protected override known(customer: string, id: string, store: WalletStore): WalletTransaction | null {
    const v = this.views.get(customer);
    if (v !== undefined) {
      for (const t of v.written) if (t.id === id) return t;
      for (const i of v.intents)
        if (i.id === id && i.kind !== "debit")
          return this.pendingRow(
            v,
            i.id,
            i.kind,
            i.at,
            i.amount,
            i.kind === "credit" ? i.id : null,
            i.note,
            i.version,
          );
    }
    return store.walletTransaction(customer, id);
  }

  private pendingRow(
    v: View,
    id: string,
    kind: "credit" | "adjustment",
    at: number,
    amount: bigint,
    lot: string | null,
    note: string | null,
    version: number,
  ): WalletTransaction {
    return {
      id,
      customer: v.customer,
      kind,
      at,
      amount: fromAtoms(amount),
      balanceAfter: fromAtoms(v.balance + v.pendingDelta),
      bundleVersion: version,
      lot,
      entitlement: null,
      note,
    };
  }

  private want(v: View, need: bigint): void {
    if (need > v.need) v.need = need;
    v.wanted = true;
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.kick();
    });
  }

  /** One tick: stop spending leases at their deadline, then sync what is due. */
  private kick(): void {
    if (this.closed) return;
    const now = Date.now();
    const at = this.clock();
    for (const v of this.views.values()) {
      if (v.allowance > 0n && now >= v.deadline) {
        v.allowance = 0n;
        v.acc.available = -v.acc.reserved;
      }
      // Expired reservations (wallet time) free their funds back into the slice.
      this.advance(v.acc, at);
    }
    if (this.inFlight.size > 0) {
      this.again = true;
      return;
    }
    void this.syncNow(false);
  }

  /** Sync what is due (`all`: every wallet, so `balance()` reads the store's figures after a flush). */
  private async syncNow(release: boolean, all = false): Promise<void> {
    const now = Date.now();
    const at = this.clock();
    const half = this.params.ttlMs / 2;
    const reqs: PoolRequest[] = [];
    const views: View[] = [];
    for (const v of this.views.values()) {
      if (v.busy) continue;
      const renew = v.allowance > 0n && now - v.renewedAt >= half;
      if (!release && !all && !v.wanted && v.intents.length === 0 && !renew) continue;
      if (release && v.allowance <= 0n && v.intents.length === 0) continue;
      let giveBack = release;
      if (renew && !v.wanted) {
        v.idle = v.spentSinceRenewal ? 0 : v.idle + 1;
        v.spentSinceRenewal = false;
        if (v.idle >= IDLE_RENEWALS) giveBack = true;
      }
      const elapsed = v.rateAt === 0 ? 0 : now - v.rateAt;
      if (v.rateAt === 0) v.rate = Number(v.spentForRate);
      else if (elapsed > 0) v.rate = demandRate(v.rate, Number(v.spentForRate), elapsed, RATE_HALF_LIFE_MS);
      v.rateAt = now;
      v.spentForRate = 0n;
      reqs.push({
        customer: v.customer,
        terms: v.terms,
        opening: v.opening,
        version: v.version,
        held: v.allowance,
        intents: v.intents,
        need: v.need,
        rate: v.rate,
        release: giveBack,
        renewOnly: !v.wanted && !giveBack,
        at,
      });
      v.intents = [];
      v.need = 0n;
      v.wanted = false;
      v.busy = true;
      v.spentWhileOut = 0n;
      views.push(v);
    }
    if (reqs.length === 0) return;
    const fresh = views.filter((v) => !v.synced).map((v) => v.customer);
    const run = this.pools.sync(reqs, fresh).then(
      (replies) => {
        this.syncs++;
        this.lastError = null;
        const at = Date.now();
        for (let i = 0; i < views.length; i++)
          this.apply(views[i] as View, reqs[i] as PoolRequest, replies[i] as PoolReply, now, at);
      },
      (err: Error) => {
        this.lastError = `wallets: ${err.message}`;
        for (let i = 0; i < views.length; i++) {
          const v = views[i] as View;
          const r = reqs[i] as PoolRequest;
          v.busy = false;
          v.intents = [...r.intents, ...v.intents];
          if (r.need > v.need) v.need = r.need;
          this.wake(v);
        }
      },
    );
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
      if (this.again && !this.closed) {
        this.again = false;
        setImmediate(() => this.kick());
      }
    }
  }

  private apply(v: View, req: PoolRequest, r: PoolReply, sentAt: number, at: number): void {
    v.busy = false;
    v.synced = true;
    const left = r.allowance - v.spentWhileOut;
    v.allowance = left > 0n ? left : 0n;
    v.spentWhileOut = 0n;
    v.acc.available = v.allowance - v.acc.reserved;
    v.deadline = r.allowance > 0n ? sentAt + this.params.ttlMs - 2 * this.tickMs : 0;
    v.horizon = (req.at ?? sentAt) + this.params.safetyMs;
    v.renewedAt = sentAt;
    v.remainder = r.remainder;
    v.seenAt = at;
    // Refill in the background at half of what the lease holds after a grant.
    if (r.granted > 0n) v.low = r.allowance / 2n;
    else if (!req.renewOnly) v.low = -1n;
    // The stored balance, plus what this engine changed since the request left.
    v.balance = toAtoms(r.wallet.balance) ?? v.balance;
    let delta = 0n;
    for (const i of v.intents) delta += i.kind === "debit" ? -(i.leased + i.extra) : i.amount;
    v.pendingDelta = delta;
    v.acc.balance = v.balance + delta;
    v.lots = r.wallet.lots.map((l) => ({
      id: l.id,
      source: l.source as Lot["source"],
      remaining: toAtoms(l.remaining) ?? 0n,
      priority: l.priority,
      expiresAt: l.expiresAt ?? Infinity,
      createdAt: l.createdAt,
    }));
    for (const row of r.rows) v.written.push(row);
    if (v.written.length > 1000) v.written.splice(0, v.written.length - 1000);
    if (req.release) v.idle = 0;
    this.wake(v);
  }

  private wake(v: View): void {
    const list = v.waiters.splice(0);
    for (const w of list) w();
  }
}
