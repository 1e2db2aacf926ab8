import { WalletAccount, type WalletTerms } from "../core/wallet/account.js";
import { fromAtoms } from "../core/wallet/amount.js";
import { Ledger, type WalletTx } from "../core/wallet/ledger.js";
import type { WalletRow, WalletTxRow } from "../core/wallet/store-rows.js";
import { restoreAccount, walletRow } from "./wallet-rows.js";

/**
 * The pure part of a wallet shared by many engines (R16, SPEC §12): what one
 * engine's sync does to the authoritative wallet (its Postgres row, locked
 * for the call) and to the leases of its available funds. All amounts are
 * atoms (BigInt, exact); `wallet-leases-pg.ts` runs it inside a transaction.
 *
 * The invariant it keeps: the wallet's balance never goes below its minimum,
 * and the allowances leased to live holders never exceed what the wallet
 * could still pay at the end of a horizon (funds that expire or are forfeited
 * before then are not leased).
 */

/** One change an engine made to a shared wallet since its last sync, in the order it made them. */
export type WalletIntent =
  | {
      kind: "debit";
      id: string;
      at: number;
      /** Atoms spent from the engine's lease (covered by its allowance). */
      leased: bigint;
      /** Atoms of work done beyond the lease (`record`, a settle above its hold): paid only if the wallet can. A negative one is a refund. */
      extra: bigint;
      entitlement: string | null;
      version: number;
    }
  | {
      kind: "credit";
      id: string;
      at: number;
      amount: bigint;
      expiresAt: number;
      priority: number;
      note: string | null;
      version: number;
    }
  | { kind: "adjustment"; id: string; at: number; amount: bigint; note: string; version: number };

/** How leases of a wallet's funds are sized (atoms, ms). */
export interface WalletLeaseParams {
  ttlMs: number;
  /** Smallest demand-based slice. */
  minSlice: bigint;
  /** A slice covers this much of the holder's demand. */
  horizonMs: number;
  /** Funds that expire or are forfeited within this time are not leased. */
  safetyMs: number;
}

export interface WalletLease {
  holder: string;
  allowance: bigint;
  expiresAt: number;
}

export interface PoolRequest {
  customer: string;
  terms: WalletTerms;
  /** The contract's opening balance, for a wallet this call opens. */
  opening: bigint | null;
  version: number;
  /** The engine's allowance at the snapshot (what it may still spend, holds included). */
  held: bigint;
  intents: WalletIntent[];
  /** Atoms wanted beyond `held` now (0: a refill or a renewal). */
  need: bigint;
  /** Recent demand in atoms per second. */
  rate: number;
  /** Give the whole allowance back (close, idle). */
  release: boolean;
  /**
   * The wallet's time at this sync: the engine's clock (its `now` option),
   * at which grants and expiries fall due, as on an engine's own store
   * (absent: the pool's clock). Leases expire by the pool's clock.
   */
  at?: number;
  /** Grant nothing new (a renewal that only writes). */
  renewOnly: boolean;
}

export interface PoolReply {
  customer: string;
  /** The engine's allowance after the call (what it holds; 0 when the lease ended). */
  allowance: bigint;
  /** Atoms granted by this call. */
  granted: bigint;
  /** The lease was gone (reclaimed after its TTL) when the call came. */
  lost: boolean;
  /** What no holder has been granted, after the call. */
  remainder: bigint;
  /** The wallet as stored after the call. */
  wallet: WalletRow;
  /** Ledger rows this call wrote. */
  rows: WalletTxRow[];
  /** Ids of intents already in the ledger (applied once, by whoever wrote them first). */
  duplicates: string[];
  /** When the lease expires (pool clock; 0 when none). */
  expiresAt: number;
}

export interface PoolState {
  /** The stored wallet, or null when none exists yet. */
  row: WalletRow | null;
  leases: WalletLease[];
  /** Ids among the request's intents that the ledger already holds. */
  known: Set<string>;
}

export interface PoolOutcome {
  reply: PoolReply;
  /** The wallet row to store. */
  row: WalletRow;
  /** New ledger rows (their ids are new). */
  rows: WalletTxRow[];
  /** This holder's lease after the call (null: delete it). */
  lease: WalletLease | null;
  /** Holders whose leases expired (delete them). */
  expired: string[];
}

/** A slice is at least this many times what the call asking for it needs (fair share permitting). */
const NEED_MULTIPLE = 8n;
const max0 = (x: bigint) => (x > 0n ? x : 0n);
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * Apply one engine's request to a wallet at `now` (the pool's clock; the
 * wallet's own time is the request's `at`, grants and expiries falling due
 * by it): open it if new, apply due grants and expiries, reclaim expired leases, write the
 * engine's intents (each id once; a debit never takes the balance below the
 * minimum, the shortfall noted), then size its lease.
 */
export function settlePool(
  holder: string,
  req: PoolRequest,
  state: PoolState,
  now: number,
  p: WalletLeaseParams,
): PoolOutcome {
  const sink = new Ledger();
  const at = req.at ?? now;
  let acc: WalletAccount;
  if (state.row === null) {
    acc = new WalletAccount(req.customer, req.terms, at);
    acc.open(at, req.opening, req.version, sink);
  } else {
    acc = restoreAccount(state.row, req.terms);
    // Shared wallets keep no holds in the store: reservations hold funds inside an engine's lease.
  }
  const expired: string[] = [];
  let others = 0n;
  let own: WalletLease | null = null;
  let holders = 0;
  for (const l of state.leases) {
    if (l.expiresAt <= now) expired.push(l.holder);
    else if (l.holder === holder) own = l;
    else {
      others += l.allowance;
      holders++;
    }
  }
  const lost = own === null && req.held > 0n;
  // The engine's figure: it spent from the lease since, so the stored one can only be larger.
  let mine = own === null ? 0n : min(own.allowance, req.held);
  const duplicates: string[] = [];
  const seen = new Set<string>();
  const ordered = [...req.intents].sort((a, b) => a.at - b.at);
  for (const it of ordered) {
    if (state.known.has(it.id) || seen.has(it.id)) {
      duplicates.push(it.id);
      continue;
    }
    seen.add(it.id);
    // Grants and expiries due by the time of the change come first; later ones after it.
    acc.advance(Math.min(it.at, at), it.version, sink);
    if (it.kind === "debit") {
      const cost = it.leased + it.extra;
      if (cost < 0n) {
        acc.debit(it.id, cost, it.at, it.version, it.entitlement, sink);
        continue;
      }
      // A lease lost to its TTL no longer covers what it allowed: paid only from free funds.
      const leased = lost ? 0n : it.leased;
      const extra = cost - leased;
      const free = acc.balance - acc.terms.minimum - acc.reserved;
      const fromLease = min(leased, max0(free - others - mine));
      const fromFree = min(extra, max0(free - others - mine - fromLease));
      const take = fromLease + fromFree;
      const before = sink.length;
      if (take > 0n) acc.debit(it.id, take, it.at, it.version, it.entitlement, sink);
      else
        sink.push({
          id: it.id,
          customer: req.customer,
          kind: "debit",
          at: it.at,
          amount: 0n,
          balanceAfter: acc.balance,
          version: it.version,
          lot: null,
          entitlement: it.entitlement,
          note: null,
        });
      if (take !== cost && sink.length > before)
        sink.note(
          sink.length - 1,
          `short by ${fromAtoms(cost - take)}: the wallet could not cover the work done`,
        );
    } else if (it.kind === "credit") {
      acc.add("credit", "topup", it.id, it.amount, it.at, it, it.version, sink);
    } else if (it.amount > 0n) {
      acc.add(
        "adjustment",
        "adjustment",
        it.id,
        it.amount,
        it.at,
        { priority: 0, expiresAt: Infinity, note: it.note },
        it.version,
        sink,
      );
    } else if (!acc.withdraw(it.id, -it.amount, it.at, it.note, it.version, sink)) {
      // More than the wallet holds: take what it has, and say so.
      const all = max0(acc.balance - acc.reserved);
      if (all > 0n)
        acc.withdraw(
          it.id,
          all,
          it.at,
          `${it.note} (short by ${fromAtoms(-it.amount - all)})`,
          it.version,
          sink,
        );
    }
  }
  acc.advance(at, req.version, sink);
  // Leasable: what the wallet can pay now and still at the end of the horizon (lots expiring or
  // grants forfeited before then are not leased; a grant due before then is not counted either).
  const later = restoreAccount(walletRow(acc), req.terms);
  later.advance(at + p.safetyMs, req.version, new Ledger());
  const leasable = min(acc.available, later.available - grantedBetween(acc, later));
  // Shrink this holder's lease when the wallet can no longer back it (an expiry, an adjustment).
  mine = min(mine, max0(leasable - others));
  let granted = 0n;
  const remainderBefore = max0(leasable - others - mine);
  if (!req.release && !req.renewOnly) {
    granted = walletSlice(remainderBefore, holders + 1, req.rate, req.need, p);
    mine += granted;
  }
  const keep = req.release ? 0n : mine;
  const expiresAt = keep > 0n ? now + p.ttlMs : 0;
  const row = walletRow(acc);
  const rows = sink.txs().map((t) => txRow(t, req.customer));
  return {
    reply: {
      customer: req.customer,
      allowance: keep,
      granted,
      lost,
      remainder: max0(leasable - others - keep),
      wallet: row,
      rows,
      duplicates,
      expiresAt,
    },
    row,
    rows,
    lease: keep > 0n ? { holder, allowance: keep, expiresAt } : null,
    expired,
  };
}

/**
 * Funds a grant due within the horizon adds to `later` (not leasable before it is given). A
 * recurring grant is never counted ahead of its boundary.
 */
function grantedBetween(now: WalletAccount, later: WalletAccount): bigint {
  let added = 0n;
  const known = new Set(now.lots.map((l) => l.id));
  for (const l of later.lots) if (l.source === "grant" && !known.has(l.id)) added += l.remaining;
  return added;
}

/**
 * The slice of a wallet's free funds one holder gets, in atoms: its demand
 * over `horizonMs` (at least `minSlice` and 8 times the asking call's need),
 * at most half its fair share of the remainder, and always what a call needs
 * when the remainder covers it
 * (the rule of `leaseSlice` for hard limits, in exact integers).
 */
export function walletSlice(
  remainder: bigint,
  holders: number,
  rate: number,
  need: bigint,
  p: WalletLeaseParams,
): bigint {
  if (remainder <= 0n || need > remainder) return 0n;
  let target = BigInt(Math.floor(Math.max(0, rate) * (p.horizonMs / 1000)));
  if (target < p.minSlice) target = p.minSlice;
  // Before demand is measured, room for a few calls like the one asking: one round trip each is slow.
  if (target < need * NEED_MULTIPLE) target = need * NEED_MULTIPLE;
  const fair = remainder / BigInt(2 * Math.max(1, holders));
  let slice = target < fair ? target : fair;
  if (slice < need) slice = need;
  if (slice > remainder) slice = remainder;
  return slice;
}

function txRow(t: WalletTx, customer: string): WalletTxRow {
  return {
    id: String(t.id),
    customer,
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
