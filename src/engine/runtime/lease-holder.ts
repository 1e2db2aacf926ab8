import type { LeasePool } from "../adapters/redis/lease-client.js";
import { type CounterTable, LEASE, LEASE_STRIDE, LOW, UNREPORTED } from "../core/engine/counter.js";
import type { AcquireResult, LeaseParams, ReturnResult } from "../core/engine/lease.js";
import { demandRate, leaseDeadline, lowWater } from "../core/engine/lease.js";
import { slidingWindowOf } from "../core/engine/period-clock.js";
import { resized } from "../core/engine/typed-arrays.js";
import { LIFETIME } from "../core/periods.js";

const EPS = 1e-9;
/** Nanos per money unit (spend caps count nanos, see core/credits/caps.ts). */
const NANOS = 1e9;
/** A slice is sized on demand measured with this half-life. */
const RATE_HALF_LIFE_MS = 2_000;
/** A background refill gathers for a shared call only while the pool had this many slices left. */
const GATHER_SLICES = 16;
/** A lease nothing was spent from over this many renewals in a row (half a TTL each) goes back. */
const IDLE_RENEWALS = 4;

/** What the book asks the pool for: one acquire, with what was consumed since the last call. */
export interface AcquireJob {
  readonly cid: number;
  readonly pool: LeasePool;
  readonly period: number;
  readonly limit: number;
  readonly consumed: number;
  readonly need: number;
  readonly rate: number;
  readonly base: number;
  /** A sliding window's usage by bucket (`k:units,...`) when its pool does not exist yet. */
  readonly baseBuckets?: string;
  /** Units refunded since the last call, given back to the pool in this one. */
  readonly refunded: number;
  readonly sentAt: number;
}

/** A report (renewal) or a release, for one pool. */
export interface ReportJob {
  readonly cid: number;
  readonly pool: LeasePool;
  readonly period: number;
  readonly consumed: number;
  /** Infinity = release the lease. */
  readonly giveBack: number;
  /** Units refunded since the last call, given back to the pool in this one. */
  readonly refunded: number;
  readonly sentAt: number;
}

/**
 * The leases one engine holds on shared hard limits, one per counter id:
 * what the decision path reads (the allowance, in the counter table's lease
 * records: see LEASE) and the bookkeeping around it. No I/O here: `SharedCounters`
 * sends the jobs this book queues and hands the replies back.
 *
 * Invariant: the allowance a call may spend is never more than the pool's
 * record of this holder's allowance minus what was spent and not yet
 * reported, and it drops to zero before the pool's TTL could reclaim it
 * ({@link leaseDeadline} minus a margin), so the pool never hands it out twice.
 *
 * A hard limit on a sliding window leases one bucket at a time: the
 * allowance of bucket k covers only calls dated in bucket k (`from` <= now <
 * `until`), and usage is reported into the bucket it was spent in. A call in
 * a later bucket gives the old bucket's lease back and acquires in the new one.
 */
export class LeaseBook {
  size = 0;
  // A lease's allowance (units a call may spend now: 0 while none is held, past its deadline, or of
  // another period), its low-water mark and its units spent since the last report live in the
  // counter table's lease record (LEASE, LOW, UNREPORTED): a call the lease covers reads that one
  // record beside the counter's. The rest is bookkeeping, here.
  /** Units refunded beyond the unreported ones (the pool counted them): given back to the pool by the next call. */
  refunds = new Float64Array(0);
  /** A refund was made since `refundJobs` last looked (it scans only then). */
  private refunding = false;
  /** The period start of the counter the lease is for (NaN: none yet). */
  period = new Float64Array(0);
  /** The pool the lease is in: the period start, or a sliding window's bucket start. */
  poolStart = new Float64Array(0);
  /** Calls dated in [from, until) may spend the lease (a sliding window's bucket; else all time). */
  from = new Float64Array(0);
  until = new Float64Array(0);
  /** 1 while an acquire or report for the counter is in flight. */
  busy = new Uint8Array(0);
  /** Renewals in a row with nothing spent since the one before. */
  idle = new Uint8Array(0);
  /** The pool's remainder as last seen, and when (Date.now; 0 = never). */
  remainder = new Float64Array(0);
  seenAt = new Float64Array(0);
  /** The local instant the lease must stop being spent from. */
  deadline = new Float64Array(0);
  /** When the lease was last renewed (acquire or report). */
  renewedAt = new Float64Array(0);
  rate = new Float64Array(0);
  rateAt = new Float64Array(0);
  limit = new Float64Array(0);
  pools: (LeasePool | undefined)[] = [];
  /** The counter and units of the last call the book could not cover (for decideAsync). */
  lastMiss = -1;
  lastNeed = 0;
  /** The reason for the last call the book could not cover. */
  denial: "lease_pending" | "limit_exceeded" = "lease_pending";
  /** Counters waiting for an acquire (their `busy` is set), with the units each needs. */
  readonly wanted: number[] = [];
  readonly wantedNeed: number[] = [];
  /** Leases of a finished period to give back. */
  readonly orphans: ReportJob[] = [];
  /**
   * Called when a job was queued, or a refund waits to go to the pool.
   * `urgent` is false for a background refill (the allowance is at its
   * low-water mark, not out): it may wait a few ms to share a call with others.
   */
  onWant: (urgent: boolean) => void = () => {};

  constructor(
    private readonly counters: CounterTable,
    readonly params: LeaseParams,
    /** A lease stops being spent this long before its TTL could run out (covers the renewal tick). */
    private readonly marginMs: number,
    /** A known exhausted pool answers `limit_exceeded` without asking again for this long. */
    private readonly freshMs: number,
    /** The engine's clock: a sliding window's lease goes back once its bucket has passed. */
    private readonly clock: () => number = Date.now,
  ) {
    counters.useLeases();
  }

  /** Whether the held allowance covers `amount` for a call at `now` (the hot path: typed-array reads only). */
  covers(cid: number, amount: number, limit: number, now: number): boolean {
    return this.holds(cid, amount, now) || this.miss(cid, amount, limit, now);
  }

  /**
   * `covers` without its miss path: true when the held allowance covers the
   * call now, false for anything `covers` would look into (no lease, another
   * period or bucket, too little left). Reads only.
   */
  holds(cid: number, amount: number, now: number): boolean {
    return (
      cid < this.size &&
      amount <= (this.counters.lease[cid * LEASE_STRIDE + LEASE] as number) + EPS &&
      this.period[cid] === this.counters.periodStart[cid] &&
      now < (this.until[cid] as number) &&
      now >= (this.from[cid] as number)
    );
  }

  /** Spend `amount` of a covered call; refill in the background at the low-water mark. */
  spend(cid: number, amount: number): void {
    const rec = this.counters.lease;
    const at = cid * LEASE_STRIDE;
    const left = (rec[at + LEASE] as number) - amount;
    rec[at + LEASE] = left;
    rec[at + UNREPORTED] = (rec[at + UNREPORTED] as number) + amount;
    const low = rec[at + LOW] as number;
    if (left <= low && this.busy[cid] === 0) this.want(cid, 0, this.nearLimit(cid, low));
  }

  /**
   * Units counted without a decision (recorded work): off the allowance (it
   * may go below zero) and reported like spent ones. Only for a lease of the
   * counter's current period; none held: the pool learns of them from nothing.
   */
  consume(cid: number, amount: number): void {
    if (cid >= this.size || !(amount > 0) || this.period[cid] !== this.counters.periodStart[cid]) return;
    this.counters.lease[cid * LEASE_STRIDE + LEASE] =
      (this.counters.lease[cid * LEASE_STRIDE + LEASE] as number) - amount;
    this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] =
      (this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number) + amount;
  }

  /**
   * Units given back (a refund: a negative amount, R5; a released hold; a
   * cap's negative price). Those spent since the last report stay this
   * holder's to spend, and the pool learns through a smaller report; the
   * rest the pool has counted already, so the next call to it (sent within
   * the turn of the event loop) gives them back to every holder: its usage
   * drops by them. Refunds go out as a running total, so a call sent again
   * after a lost reply gives them back once.
   */
  refund(cid: number, amount: number): void {
    if (!(amount > 0) || !Number.isFinite(amount)) return;
    if (cid >= this.size) this.grow(cid + 1);
    const start = this.counters.periodStart[cid] as number;
    const now = this.clock();
    // A refund counts in the counter's current period (a sliding window's current bucket).
    if (this.period[cid] !== start || now >= (this.until[cid] as number)) this.enter(cid, start, now);
    if (this.pools[cid] === undefined) return;
    const back = Math.min(
      amount,
      Math.max(0, this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number),
    );
    this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] =
      (this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number) - back;
    this.counters.lease[cid * LEASE_STRIDE + LEASE] =
      (this.counters.lease[cid * LEASE_STRIDE + LEASE] as number) + back;
    const rest = amount - back;
    if (!(rest > 0)) return;
    this.refunds[cid] = (this.refunds[cid] as number) + rest;
    this.refunding = true;
    // The remainder last seen grows by them: a pool seen exhausted is asked again.
    this.remainder[cid] = (this.remainder[cid] as number) + rest;
    this.onWant(true);
  }

  /** Reports of the leases with refunds to give back and no call out (sent within a turn of the event loop). */
  refundJobs(now: number): ReportJob[] {
    const out: ReportJob[] = [];
    if (!this.refunding) return out;
    this.refunding = false;
    for (let cid = 0; cid < this.size; cid++) {
      const refunded = this.refunds[cid] as number;
      const pool = this.pools[cid];
      if (!(refunded > 0) || pool === undefined) continue;
      // A call out carries them next time (or puts them back if it fails): the tick's reports send them.
      if (this.busy[cid] !== 0) continue;
      const consumed = Math.max(0, this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number);
      this.busy[cid] = 1;
      this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
      this.refunds[cid] = 0;
      out.push({
        cid,
        pool,
        period: this.poolStart[cid] as number,
        consumed,
        giveBack: 0,
        refunded,
        sentAt: now,
      });
    }
    return out;
  }

  private miss(cid: number, amount: number, limit: number, now: number): boolean {
    if (cid >= this.size) this.grow(cid + 1);
    const start = this.counters.periodStart[cid] as number;
    if (this.period[cid] !== start || now >= (this.until[cid] as number)) this.enter(cid, start, now);
    else if (now < (this.from[cid] as number)) {
      // A call dated in an earlier bucket than the lease's: no pool grants into a past bucket.
      this.lastMiss = -1;
      this.denial = "limit_exceeded";
      return false;
    }
    this.limit[cid] = limit;
    const held = Math.max(0, this.counters.lease[cid * LEASE_STRIDE + LEASE] as number);
    this.lastMiss = cid;
    this.lastNeed = amount - held;
    if (this.busy[cid] !== 0) {
      this.denial = "lease_pending";
      // A refill gathering for a shared call (see onWant) goes out now: a call waits for it.
      this.onWant(true);
      return false;
    }
    const seen = this.seenAt[cid] as number;
    if (
      seen > 0 &&
      Date.now() - seen < this.freshMs &&
      held + (this.remainder[cid] as number) + EPS < amount
    ) {
      this.denial = "limit_exceeded";
      return false;
    }
    this.denial = "lease_pending";
    this.want(cid, amount - held);
    return false;
  }

  /**
   * Whether a background refill goes out at once rather than gathering for a
   * shared call: near the limit (the pool had fewer than GATHER_SLICES slices
   * left when last seen), where which engine holds the last units matters,
   * and for a sliding window, whose lease lives one bucket.
   */
  private nearLimit(cid: number, low: number): boolean {
    const slice = low / this.params.lowWaterRatio;
    return (
      this.pools[cid]?.window !== undefined || !((this.remainder[cid] as number) >= GATHER_SLICES * slice)
    );
  }

  /** Queue an acquire for `cid` (background refill when `need` is 0). */
  want(cid: number, need: number, urgent = need > 0): void {
    this.busy[cid] = 1;
    this.wanted.push(cid);
    this.wantedNeed.push(need);
    this.onWant(urgent);
  }

  /**
   * A new period (R6), or a sliding window's next bucket: the old pool's lease
   * goes back (with the usage not reported yet), the new one starts empty.
   */
  private enter(cid: number, start: number, now: number): void {
    const old = this.pools[cid];
    if (old !== undefined && !Number.isNaN(this.period[cid] as number)) {
      this.orphans.push({
        cid: -1,
        pool: old,
        period: this.poolStart[cid] as number,
        consumed: Math.max(0, this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number),
        giveBack: Infinity,
        refunded: this.refunds[cid] as number,
        sentAt: Date.now(),
      });
    }
    this.refunds[cid] = 0;
    const c = this.counters.counters[cid];
    const end = this.counters.periodEnd[cid] as number;
    const w = c === undefined ? null : slidingWindowOf(c);
    if (c === undefined) this.pools[cid] = undefined;
    else if (w === null) {
      this.pools[cid] = {
        counter: `${c.owner}|${c.entitlement}`,
        periodStart: start,
        periodEnd: end >= LIFETIME.end ? null : end,
        // A spend cap's counter counts nanos of money: its slices are sized in whole money units.
        ...(c.entitlement.startsWith("cap:") ? { scale: NANOS } : {}),
      };
      this.poolStart[cid] = start;
      this.from[cid] = Number.NEGATIVE_INFINITY;
      this.until[cid] = Number.POSITIVE_INFINITY;
    } else {
      const size = w.bucketMs;
      const from = Math.floor(now / size) * size;
      this.pools[cid] = {
        counter: `${c.owner}|${c.entitlement}`,
        periodStart: from,
        periodEnd: from + size,
        window: { windowMs: w.windowMs, bucketMs: size, buckets: Math.ceil(w.windowMs / size) },
      };
      this.poolStart[cid] = from;
      this.from[cid] = from;
      this.until[cid] = from + size;
    }
    this.period[cid] = start;
    this.counters.lease[cid * LEASE_STRIDE + LEASE] = 0;
    this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
    this.counters.lease[cid * LEASE_STRIDE + LOW] = -1;
    this.seenAt[cid] = 0;
    this.rate[cid] = 0;
    this.rateAt[cid] = 0;
  }

  /** The acquire job for a wanted counter (moves its unreported units into the call). */
  acquireJob(cid: number, need: number, now: number): AcquireJob | null {
    const pool = this.pools[cid];
    if (pool === undefined) {
      this.busy[cid] = 0;
      return null;
    }
    const consumed = Math.max(0, this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number);
    this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
    const refunded = this.refunds[cid] as number;
    this.refunds[cid] = 0;
    const c = this.counters.counters[cid];
    const base = c === undefined ? 0 : Math.max(0, c.used - consumed);
    const rate = this.measure(cid, consumed + need, now);
    const period = this.poolStart[cid] as number;
    const job = {
      cid,
      pool,
      period,
      limit: this.limit[cid] as number,
      consumed,
      need,
      rate,
      base,
      refunded,
      sentAt: now,
    };
    const w = pool.window === undefined || c === undefined ? null : slidingWindowOf(c);
    if (w === null) return job;
    return { ...job, baseBuckets: windowBase(w.bucketList(), pool.periodStart / w.bucketMs, consumed) };
  }

  /** Apply an acquire's reply. */
  acquired(job: AcquireJob, r: AcquireResult, now: number): void {
    const cid = job.cid;
    this.busy[cid] = 0;
    if (this.poolStart[cid] !== job.period) {
      // The period turned while the call was out: what it granted belongs to the old pool.
      // As an orphan (cid -1): its reply must not clear `busy` for a job sent since.
      this.orphans.push({ ...job, cid: -1, consumed: 0, refunded: 0, giveBack: Infinity, sentAt: now });
      return;
    }
    this.renewed(cid, job.sentAt, r.allowance, r.remainder, now);
    // A refill that found nothing to spread waits until the allowance runs out.
    this.counters.lease[cid * LEASE_STRIDE + LOW] = r.granted > 0 ? lowWater(r.granted, this.params) : -1;
  }

  /** Apply a report's reply. */
  reported(job: ReportJob, r: ReturnResult, now: number): void {
    const cid = job.cid;
    if (cid < 0) return;
    this.busy[cid] = 0;
    if (this.poolStart[cid] !== job.period) return;
    this.renewed(cid, job.sentAt, r.allowance, r.remainder, now);
  }

  /**
   * A call failed: its consumed units are still unreported, and the lease is
   * as it was. A sliding window's bucket that has passed meanwhile still gets
   * them (they count in later windows): they go out with its lease's return.
   */
  failed(cid: number, period: number, consumed: number, pool?: LeasePool, refunded = 0): void {
    if (cid < 0) return;
    this.busy[cid] = 0;
    if (this.poolStart[cid] === period) {
      this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] =
        (this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number) + consumed;
      this.refunds[cid] = (this.refunds[cid] as number) + refunded;
    } else if (pool?.window !== undefined && (consumed > 0 || refunded > 0))
      this.orphans.push({
        cid: -1,
        pool,
        period,
        consumed,
        giveBack: Infinity,
        refunded,
        sentAt: Date.now(),
      });
  }

  private renewed(cid: number, sentAt: number, poolAllowance: number, remainder: number, now: number): void {
    // Units spent while the call was out are off the pool's figure too. A lease of a period the
    // counter has left serves no call: its allowance goes back when the next call enters the new one.
    this.counters.lease[cid * LEASE_STRIDE + LEASE] =
      this.period[cid] === this.counters.periodStart[cid]
        ? Math.max(0, poolAllowance - (this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number))
        : 0;
    this.remainder[cid] = remainder;
    this.seenAt[cid] = now;
    this.renewedAt[cid] = sentAt;
    this.deadline[cid] = poolAllowance > 0 ? leaseDeadline(sentAt, this.params) - this.marginMs : 0;
  }

  /**
   * Once per tick: stop spending leases at their deadline, and list the
   * leases to renew (half their TTL gone). A lease nothing was spent from
   * over several renewals goes back instead.
   */
  due(now: number, out: ReportJob[]): void {
    const half = this.params.ttlMs / 2;
    const at = this.clock();
    for (let cid = 0; cid < this.size; cid++) {
      const allowance = this.counters.lease[cid * LEASE_STRIDE + LEASE] as number;
      // A call still out (a server that stopped answering) does not extend the lease.
      if (allowance > 0 && now >= (this.deadline[cid] as number))
        this.counters.lease[cid * LEASE_STRIDE + LEASE] = 0;
      const unreported = this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number;
      const refunded = this.refunds[cid] as number;
      if (this.busy[cid] !== 0 || (allowance <= 0 && unreported <= 0 && refunded <= 0)) continue;
      if (at >= (this.until[cid] as number)) {
        // A sliding window's bucket has passed: its lease can serve no call any more.
        const pool = this.pools[cid];
        if (pool === undefined) continue;
        this.busy[cid] = 1;
        this.counters.lease[cid * LEASE_STRIDE + LEASE] = 0;
        this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
        this.refunds[cid] = 0;
        const period = this.poolStart[cid] as number;
        const consumed = Math.max(0, unreported);
        out.push({ cid, pool, period, consumed, giveBack: Infinity, refunded, sentAt: now });
        continue;
      }
      // Refunds go back at once (a report that failed left them here).
      if (now - (this.renewedAt[cid] as number) < half && !(refunded > 0)) continue;
      const pool = this.pools[cid];
      if (pool === undefined) continue;
      this.busy[cid] = 1;
      this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
      this.refunds[cid] = 0;
      if (unreported > 0) this.measure(cid, unreported, now);
      // A lease idle for IDLE_RENEWALS renewals goes back: demand moved elsewhere.
      const idle = unreported > 0 ? 0 : (this.idle[cid] as number) + 1;
      this.idle[cid] = idle;
      const giveBack = idle >= IDLE_RENEWALS ? Infinity : 0;
      out.push({
        cid,
        pool,
        period: this.poolStart[cid] as number,
        consumed: Math.max(0, unreported),
        giveBack,
        refunded,
        sentAt: now,
      });
    }
  }

  /** Reports of every lease with units spent since its last call (a flush). */
  unreportedJobs(now: number): ReportJob[] {
    const out: ReportJob[] = [];
    for (let cid = 0; cid < this.size; cid++) {
      const pool = this.pools[cid];
      const consumed = this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number;
      const refunded = this.refunds[cid] as number;
      if (pool === undefined || this.busy[cid] !== 0 || !(consumed > 0 || refunded > 0)) continue;
      this.busy[cid] = 1;
      this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
      this.refunds[cid] = 0;
      out.push({
        cid,
        pool,
        period: this.poolStart[cid] as number,
        consumed: Math.max(0, consumed),
        giveBack: 0,
        refunded,
        sentAt: now,
      });
    }
    return out;
  }

  /** Every lease, to give back on close (unreported units reported in the same call). */
  all(now: number): ReportJob[] {
    const out = this.orphans.splice(0);
    for (let cid = 0; cid < this.size; cid++) {
      const pool = this.pools[cid];
      if (pool === undefined || Number.isNaN(this.period[cid] as number)) continue;
      const consumed = Math.max(0, this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] as number);
      const refunded = this.refunds[cid] as number;
      this.counters.lease[cid * LEASE_STRIDE + LEASE] = 0;
      this.counters.lease[cid * LEASE_STRIDE + UNREPORTED] = 0;
      this.refunds[cid] = 0;
      out.push({
        cid: -1,
        pool,
        period: this.poolStart[cid] as number,
        consumed,
        giveBack: Infinity,
        refunded,
        sentAt: now,
      });
    }
    return out;
  }

  /** Leases held now and the allowance in them; of which on sliding windows. */
  held(): { leases: number; allowance: number; sliding: number; slidingAllowance: number } {
    let leases = 0;
    let allowance = 0;
    let sliding = 0;
    let slidingAllowance = 0;
    for (let cid = 0; cid < this.size; cid++) {
      const a = this.counters.lease[cid * LEASE_STRIDE + LEASE] as number;
      if (a > 0) {
        leases++;
        allowance += a;
        if (this.pools[cid]?.window !== undefined) {
          sliding++;
          slidingAllowance += a;
        }
      }
    }
    return { leases, allowance, sliding, slidingAllowance };
  }

  private measure(cid: number, units: number, now: number): number {
    const at = this.rateAt[cid] as number;
    const rate = at === 0 ? units : demandRate(this.rate[cid] as number, units, now - at, RATE_HALF_LIFE_MS);
    this.rate[cid] = rate;
    this.rateAt[cid] = now;
    return rate;
  }

  private grow(min: number): void {
    const n = Math.max(min, this.size * 2, 1024);
    this.refunds = resized(this.refunds, n);
    const period = resized(this.period, n);
    period.fill(Number.NaN, this.size);
    this.period = period;
    const poolStart = resized(this.poolStart, n);
    poolStart.fill(Number.NaN, this.size);
    this.poolStart = poolStart;
    this.from = resized(this.from, n);
    this.until = resized(this.until, n);
    this.busy = resized(this.busy, n);
    this.idle = resized(this.idle, n);
    this.remainder = resized(this.remainder, n);
    this.seenAt = resized(this.seenAt, n);
    this.deadline = resized(this.deadline, n);
    this.renewedAt = resized(this.renewedAt, n);
    this.rate = resized(this.rate, n);
    this.rateAt = resized(this.rateAt, n);
    this.limit = resized(this.limit, n);
    this.size = n;
  }
}

/**
 * What a sliding window's pool starts from when it does not exist yet: the
 * local window's buckets (`k:units,...`), less the units of bucket `current`
 * reported in the same call.
 */
function windowBase(list: string, current: number, reported: number): string {
  if (reported <= 0 || list === "") return list;
  const out: string[] = [];
  for (const part of list.split(",")) {
    const [k, v] = part.split(":");
    if (Number(k) !== current) out.push(part);
    else if (Number(v) - reported > EPS) out.push(`${k}:${Number(v) - reported}`);
  }
  return out.join(",");
}
