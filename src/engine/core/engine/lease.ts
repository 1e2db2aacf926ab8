/**
 * Quota leases (escrow) for hard limits shared by many engines (SPEC §11, R16).
 *
 * A shared pool per (counter, period) holds `limit`, `consumed` (usage the
 * holders reported) and `outstanding` (allowance granted to holders and not yet
 * reported as consumed). Each engine is a holder: it takes a slice of the pool
 * in one atomic call, decides locally from it, reports what it consumed, and
 * gives back the unconsumed part on close. This module is the maths and a pure
 * in-memory pool ({@link LeaseLedger}); `adapters/redis/lease.lua` runs the same
 * operations atomically in Redis, with the parameters passed in from here.
 *
 * **The remainder.** `remainder = max(0, limit - consumed - outstanding)`: what
 * no holder has been granted yet.
 *
 * **The slice** ({@link leaseSlice}) for a holder that needs `need` more units
 * now (0 for a background refill), holds `held`, and sees demand `rate`/s:
 *
 *     target = clamp(max(rate * horizonMs / 1000, remainder / (spread * holders)), minSlice, maxSlice - held)
 *     fair   = remainder / (2 * holders)
 *     slice  = min(remainder, max(need, floor(min(target, fair))))
 *     slice  = 0 when need > remainder (nothing is granted that cannot serve the call)
 *
 * - It grows with demand (`target` covers `horizonMs` of the holder's recent
 *   demand) up to `maxSlice` held in total by one holder.
 * - It is large while the remainder is: whatever the demand, a holder may take
 *   `remainder / (spread * holders)` (up to `maxSlice`), so far from the limit a
 *   first slice is not sized on a demand not measured yet, and refills are
 *   rare. All holders together take at most `1 / spread` of the remainder that
 *   way per round of grants, and it shrinks with the remainder.
 * - It shrinks with the remainder: no holder takes more than half of its fair
 *   share of what is left, so the remainder decays geometrically and its last
 *   units are spread across holders instead of stranded in one.
 * - It is exact to the last unit: once `fair` rounds down below a call's need,
 *   the holder is granted exactly `need` (when the remainder covers it), never
 *   more. A background refill (`need = 0`) then gets nothing: the last units go
 *   only to calls that need them.
 *
 * **Bounds.**
 * - Overshoot = 0. Every grant is at most the remainder, so after every
 *   operation `consumed + outstanding <= limit`. A live holder allows only
 *   units from its allowance; reporting moves them from `outstanding` to
 *   `consumed`, and a release or expiry returns only the unreported allowance.
 *   So the sum of everything allowed never exceeds the limit. (A limit lowered
 *   while allowance is out keeps that allowance: it was granted under the old limit.)
 * - Refunds (R5: a negative amount) give allowance back: a holder's report
 *   takes the units it refunded off `consumed` (never below zero), so what
 *   was allowed minus what was refunded never exceeds the limit. A holder
 *   reports its refunds as a running total per pool, which the pool compares
 *   with the last total it applied from that holder: a report whose reply was
 *   lost and is sent again gives the units back once. A pool created by the
 *   report starts from `base`, which already nets them.
 * - Stranded allowance <= holders x max(maxSlice, largest single call): a
 *   holder never holds more than `maxSlice` unless one call needs more.
 * - A holder that crashes (kill -9) without reporting: the units it allowed
 *   since its last report are unknown to the pool. When its lease expires, its
 *   whole unreported allowance returns to the pool, so the limit can be
 *   exceeded by at most what it allowed since its last report: at most the
 *   allowance it held then, and at most its demand over one report interval.
 *   The same holds for a holder cut off from the pool for longer than the TTL,
 *   which is why a holder stops deciding from a lease at {@link leaseDeadline}.
 */

/** The lease parameters. One set serves the pure maths and the Redis scripts (passed as arguments). */
export interface LeaseParams {
  /** The smallest slice a demand-based grant aims for (units). */
  readonly minSlice: number;
  /** The most one holder holds at once, unless one call needs more (units). */
  readonly maxSlice: number;
  /** A slice covers this much of the holder's recent demand (ms). */
  readonly horizonMs: number;
  /** Whatever the demand, a slice may be remainder / (spread * holders), up to `maxSlice` (>= 2). */
  readonly spread: number;
  /** A holder refills in the background once its allowance falls to this fraction of its last slice. */
  readonly lowWaterRatio: number;
  /** A lease not renewed (acquire or report) within this time is reclaimed (ms). */
  readonly ttlMs: number;
}

export const LEASE_DEFAULTS: LeaseParams = {
  minSlice: 1,
  maxSlice: 1000,
  horizonMs: 1000,
  spread: 100,
  lowWaterRatio: 0.5,
  ttlMs: 10_000,
};

/**
 * Defaults for pools kept in Postgres rows (engines sharing a store without
 * Redis): an operation there is a transaction of several statements, a few
 * ms against well under one for a Redis script, so a slice covers five
 * seconds of demand (a tenth of the round trips for the same demand), up to
 * 10,000 units, and a lease lives 30 s (renewed every 15 s). The maths is in
 * docs/scale.md.
 */
export const ROW_LEASE_DEFAULTS: LeaseParams = {
  minSlice: 1,
  maxSlice: 10_000,
  horizonMs: 5_000,
  spread: 100,
  lowWaterRatio: 0.5,
  ttlMs: 30_000,
};

/** R3 compares at 1e-9: a need that exceeds the remainder by less than this is covered. */
const EPSILON = 1e-9;

export interface SliceInput {
  /** limit - consumed - outstanding, after the holder's report (never negative). */
  readonly remainder: number;
  /** Live leaseholders, the asking one included (>= 1). */
  readonly holders: number;
  /** The holder's recent demand (units per second). */
  readonly rate: number;
  /** Units the holder needs now for a call its allowance does not cover (0 = background refill). */
  readonly need: number;
  /** The holder's allowance after its report. */
  readonly held: number;
}

/**
 * The slice to grant (see the module comment for the maths and bounds).
 * `adapters/redis/lease.lua` `lease_slice` is the same function, operation for operation.
 *
 * @example
 * leaseSlice({ remainder: 10_000, holders: 2, rate: 300, need: 0, held: 0 }, LEASE_DEFAULTS); // 300
 * leaseSlice({ remainder: 1e9, holders: 2, rate: 0, need: 0, held: 0 }, LEASE_DEFAULTS); // 1000
 * leaseSlice({ remainder: 3, holders: 2, rate: 300, need: 1, held: 0 }, LEASE_DEFAULTS); // 1
 */
export function leaseSlice(input: SliceInput, p: LeaseParams): number {
  const { remainder, need } = input;
  if (remainder <= 0) return 0;
  if (need - remainder > EPSILON) return 0;
  let target = (input.rate * p.horizonMs) / 1000;
  const plenty = remainder / (p.spread * input.holders);
  if (target < plenty) target = plenty;
  if (target < p.minSlice) target = p.minSlice;
  let room = p.maxSlice - input.held;
  if (room < 0) room = 0;
  if (target > room) target = room;
  const fair = remainder / (2 * input.holders);
  let slice = Math.floor(Math.min(target, fair));
  if (slice < need) slice = need;
  if (slice > remainder) slice = remainder;
  return slice;
}

/** The allowance at or below which a holder refills in the background, for its last slice. */
export function lowWater(slice: number, p: LeaseParams): number {
  return slice * p.lowWaterRatio;
}

/**
 * The local instant after which a holder must stop deciding from a lease it
 * asked for at `sentAt` (its own clock, read before sending): the pool starts
 * the TTL when it runs the call, after `sentAt`, so this is never later than
 * the pool's expiry (for clocks that run at the same rate).
 */
export function leaseDeadline(sentAt: number, p: LeaseParams): number {
  return sentAt + p.ttlMs;
}

/**
 * Recent demand in units per second: an exponentially weighted rate with a
 * half-life, fed the units a holder allowed (or was asked for) over the last
 * `elapsedMs`. Without history (`previous` 0) the first measurement is the
 * rate, so a busy holder's first slices are not sized for zero demand.
 */
export function demandRate(previous: number, units: number, elapsedMs: number, halfLifeMs: number): number {
  if (elapsedMs <= 0) return previous;
  const now = units / (elapsedMs / 1000);
  if (previous === 0) return now;
  const keep = 0.5 ** (elapsedMs / halfLifeMs);
  return previous * keep + now * (1 - keep);
}

/** What a holder learns from every operation. */
export interface LeaseState {
  /** The holder's allowance now (granted, not yet reported as consumed). */
  readonly allowance: number;
  /** What no holder holds: limit - consumed - outstanding (>= 0). */
  readonly remainder: number;
  /** Live leaseholders after the operation. */
  readonly holders: number;
  /** When the holder's lease expires (pool clock, ms); 0 when it holds none. */
  readonly expiresAt: number;
}

export interface AcquireResult extends LeaseState {
  readonly granted: number;
}

export interface ReturnResult extends LeaseState {
  /** Allowance given back to the pool by this call. */
  readonly returned: number;
}

export interface AcquireInput {
  readonly holder: string;
  readonly now: number;
  readonly limit: number;
  /** Units consumed since the holder's last report (reported in the same call). */
  readonly consumed: number;
  readonly need: number;
  readonly rate: number;
  /** Usage already known when the pool is created (a period's pool starts from it; default 0). */
  readonly base?: number;
  /** Units refunded since the holder's last report (given back to the pool in the same call; default 0). */
  readonly refunded?: number;
}

/** Pool totals, for tests and status. */
export interface PoolTotals {
  readonly limit: number;
  readonly consumed: number;
  readonly outstanding: number;
  readonly holders: number;
}

/** A pool's state as a store keeps it: totals, and the live leases as [holder, allowance, expiresAt]. */
export interface StoredPool {
  readonly limit: number;
  readonly consumed: number;
  readonly outstanding: number;
  readonly leases: readonly (readonly [string, number, number])[];
}

/**
 * One pool, in memory: the reference implementation of the Redis scripts
 * (the same operations in the same order, so their results agree exactly) and
 * the pool of a single-process deployment. Time is passed in.
 */
export class LeaseLedger {
  private limit = 0;
  private consumed = 0;
  private outstanding = 0;
  private created = false;
  /** holder -> [allowance, expiresAt] */
  private readonly leases = new Map<string, [number, number]>();

  constructor(readonly params: LeaseParams = LEASE_DEFAULTS) {}

  /** Reclaim expired leases, report `consumed`, then grant a slice. */
  acquire(input: AcquireInput): AcquireResult {
    // A new pool starts from `base`, which already nets the refunds: they are not taken off again.
    const refunded = this.created ? (input.refunded ?? 0) : 0;
    if (!this.created) {
      this.created = true;
      this.consumed = input.base ?? 0;
    }
    this.limit = input.limit;
    this.reclaim(input.now);
    const lease = this.applyReport(input.holder, input.consumed, refunded);
    const holders = this.leases.size + (lease ? 0 : 1);
    const remainder = this.remainder();
    const held = lease?.[0] ?? 0;
    const granted = leaseSlice({ remainder, holders, rate: input.rate, need: input.need, held }, this.params);
    this.outstanding += granted;
    const state = this.keep(input.holder, held + granted, input.now);
    return { granted, ...state };
  }

  /**
   * Reclaim expired leases, report `consumed` (and `refunded`, units given
   * back by refunds since the last report), give back up to `giveBack` and renew the lease.
   */
  report(holder: string, consumed: number, giveBack: number, now: number, refunded = 0): ReturnResult {
    // A pool that is gone (a new period, a store that lost its data) has no lease to report on.
    if (!this.created) return { returned: 0, allowance: 0, remainder: 0, holders: 0, expiresAt: 0 };
    this.reclaim(now);
    const held = this.applyReport(holder, consumed, refunded)?.[0] ?? 0;
    const returned = Math.min(giveBack, held);
    this.take(returned);
    return { returned, ...this.keep(holder, held - returned, now) };
  }

  /** Report `consumed` and give back the whole unconsumed allowance (a graceful close). */
  release(holder: string, consumed: number, now: number, refunded = 0): ReturnResult {
    return this.report(holder, consumed, Number.POSITIVE_INFINITY, now, refunded);
  }

  /**
   * A pool as stored outside this process (a Postgres row and its holders'
   * rows), to run one operation on and store again: `null` for a pool that
   * does not exist yet.
   */
  static restore(params: LeaseParams, stored: StoredPool | null): LeaseLedger {
    const ledger = new LeaseLedger(params);
    if (stored === null) return ledger;
    ledger.created = true;
    ledger.limit = stored.limit;
    ledger.consumed = stored.consumed;
    ledger.outstanding = stored.outstanding;
    for (const [holder, allowance, expiresAt] of stored.leases)
      if (allowance > 0) ledger.leases.set(holder, [allowance, expiresAt]);
    return ledger;
  }

  /** The pool to store ({@link LeaseLedger.restore}); null when no operation created it. */
  stored(): StoredPool | null {
    if (!this.created) return null;
    const leases: [string, number, number][] = [];
    for (const [holder, [allowance, expiresAt]] of this.leases) leases.push([holder, allowance, expiresAt]);
    return { limit: this.limit, consumed: this.consumed, outstanding: this.outstanding, leases };
  }

  totals(): PoolTotals {
    return {
      limit: this.limit,
      consumed: this.consumed,
      outstanding: this.outstanding,
      holders: this.leases.size,
    };
  }

  private remainder(): number {
    const r = this.limit - this.consumed - this.outstanding;
    return Math.max(r, 0);
  }

  /** Expired leases (expiresAt <= now) give their unreported allowance back, in (expiresAt, holder) order. */
  private reclaim(now: number): void {
    const expired = [...this.leases].filter(([, l]) => l[1] <= now);
    expired.sort(([a, x], [b, y]) => x[1] - y[1] || (a < b ? -1 : a > b ? 1 : 0));
    for (const [holder, [allowance]] of expired) {
      this.leases.delete(holder);
      this.take(allowance);
    }
  }

  /**
   * `consumed` moves from the holder's allowance to the pool's usage; a
   * refund takes units off the usage (never below zero: what the pool never
   * counted is not given back), so the remainder grows by it.
   */
  private applyReport(holder: string, consumed: number, refunded: number): [number, number] | undefined {
    this.consumed += consumed;
    if (refunded > 0) this.consumed = Math.max(0, this.consumed - refunded);
    const lease = this.leases.get(holder);
    if (!lease) return undefined;
    const used = Math.min(consumed, lease[0]);
    lease[0] -= used;
    this.take(used);
    return lease;
  }

  private take(units: number): void {
    this.outstanding -= units;
    // Float drift never leaves phantom allowance: no lease, nothing outstanding.
    if (this.outstanding < 0 || this.leases.size === 0) this.outstanding = 0;
  }

  private keep(holder: string, allowance: number, now: number): LeaseState {
    let expiresAt = 0;
    if (allowance > 0) {
      expiresAt = now + this.params.ttlMs;
      this.leases.set(holder, [allowance, expiresAt]);
    } else {
      this.leases.delete(holder);
      if (this.leases.size === 0) this.outstanding = 0;
    }
    return { allowance, remainder: this.remainder(), holders: this.leases.size, expiresAt };
  }
}
