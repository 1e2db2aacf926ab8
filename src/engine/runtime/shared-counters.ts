import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import { RedisLeases } from "../adapters/redis/lease-client.js";
import { PartialReplyError } from "../adapters/redis/slots.js";
import type { CounterTable } from "../core/engine/counter.js";
import {
  type AcquireResult,
  LEASE_DEFAULTS,
  type LeaseParams,
  type ReturnResult,
  ROW_LEASE_DEFAULTS,
} from "../core/engine/lease.js";
import type { CounterRow } from "../core/engine/store-port.js";
import { InputError } from "../core/errors.js";
import { type AcquireJob, LeaseBook, type ReportJob } from "./lease-holder.js";
import { SharedTotals, type TotalsTransport } from "./shared-totals.js";

const requireModule = createRequire(import.meta.url);
/** Pools per script call: one round trip, short enough not to stall Redis. */
const BATCH = 256;
/**
 * Renewal batches out at once. A tick's renewals of many leases (50,000 leases
 * are 200 batches) sent together would all stay alive until Redis answered,
 * and the young-generation collector would copy them into the old one; a few
 * at a time, each batch's strings die young.
 */
const RENEW_WINDOW = 2;
/**
 * A background refill (a lease at its low-water mark, with half its slice
 * left) waits this long for others to share its call; a call the held
 * allowance cannot cover goes out within the turn of the event loop. An
 * engine spending from many leases otherwise sent a call of one or two
 * refills after nearly every turn.
 */
const REFILL_GATHER_MS = 10;
/** The last totals push on close: tries, and the pause between them (see `lastTotals`). */
const CLOSE_TOTALS_TRIES = 3;
const CLOSE_RETRY_MS = 100;

/** The lease calls `SharedCounters` makes: Redis scripts, or transactions on Postgres rows. */
export type LeaseTransport = Pick<RedisLeases, "acquireMany" | "reportMany" | "releaseMany">;

/** Leases and totals kept in the Postgres store's rows instead of Redis (`PgLeases`). */
export interface RowCounters extends LeaseTransport, TotalsTransport {
  connect(): Promise<void>;
  close(): Promise<void>;
}

export interface SharedCountersOptions {
  /** `redis://host:port/db`; with `rows`, the store's URL (shown in status, without a password). */
  readonly url: string;
  /** Leases and totals in the store's rows (engines sharing a Postgres store without Redis). */
  readonly rows?: RowCounters;
  /** Prefix of every key (default `limitr:`); engines that share limits use the same one. */
  readonly prefix?: string;
  readonly lease?: Partial<LeaseParams>;
  /** Sync the totals at most this often, ms (default: every tick). */
  readonly syncMs?: number;
  /** Counters restored from this engine's store: their usage is in Redis already (pushed before a restart). */
  readonly restored?: readonly CounterRow[];
  /**
   * `url` is a Redis Cluster node: a cluster client, and batch script calls
   * split by hash slot (every key of one call in one slot).
   */
  readonly cluster?: boolean;
  /** Split batch calls by hash slot without a cluster client (default: `cluster`). */
  readonly bySlot?: boolean;
  /** The engine's clock (default `Date.now`): a sliding window's lease goes back once its bucket has passed. */
  readonly clock?: () => number;
}

/** `status().counters`: the shared counters' health. */
export interface CountersStatus {
  /** Where the leases live: the Redis URL or the Postgres store, without a password. */
  url: string;
  /** The last call to Redis (or Postgres) succeeded. */
  reachable: boolean;
  /** Leases this engine holds allowance in. */
  leases: number;
  /** Allowance held in them (units). */
  allowance: number;
  /** Of those, leases on sliding windows (each for the current bucket of its window), and their allowance. */
  slidingLeases: number;
  slidingAllowance: number;
  /** Acquires queued or in flight. */
  pendingAcquires: number;
  /** Round trips to Redis since open (a script call, or on a cluster a pipeline of one node's per-slot calls), or transactions on Postgres. */
  calls: number;
  lastError: string | null;
}

/**
 * Live counters shared by many engines through Redis (SPEC §11, R16): the
 * quota leases of hard limits ({@link LeaseBook}, decided from locally and
 * synchronously) and the running totals of every counter ({@link SharedTotals}).
 * Calls to Redis are batched: every acquire queued during one turn of the
 * event loop goes out in one script call, renewals once per tick.
 */
export class SharedCounters {
  readonly book: LeaseBook;
  readonly params: LeaseParams;
  private readonly redis: Redis | null = null;
  private readonly rows: RowCounters | null = null;
  private readonly leases: LeaseTransport;
  /** The Redis lease client (it counts its round trips: one per node a batch goes to on a cluster). */
  private readonly redisLeases: RedisLeases | null = null;
  private readonly totals: SharedTotals;
  private readonly timer: NodeJS.Timeout;
  private readonly tickMs: number;
  private scheduled = false;
  private closed = false;
  private reachable = false;
  private lastError: string | null = null;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private calls = 0;
  /** Totals sync at most this often (0: every tick), and when the last one started. */
  private readonly syncMs: number;
  private syncedAt = 0;
  private inFlight = new Set<Promise<unknown>>();
  /** Waiters of decideAsync, by counter id: resolved when that counter's acquire is applied. */
  private readonly waiters = new Map<number, (() => void)[]>();
  readonly url: string;

  constructor(counters: CounterTable, options: SharedCountersOptions) {
    const syncMs = options.syncMs;
    if (syncMs !== undefined && !(typeof syncMs === "number" && syncMs > 0 && syncMs < Infinity))
      throw new InputError(`countersSyncMs must be a number of milliseconds > 0 (got ${String(syncMs)})`);
    this.syncMs = syncMs ?? 0;
    if (options.rows !== undefined) {
      this.url = redact(options.url);
      this.params = { ...ROW_LEASE_DEFAULTS, ...options.lease };
      if (!(this.params.ttlMs >= 400))
        throw new InputError(`lease.ttlMs must be at least 400 (got ${this.params.ttlMs})`);
      this.tickMs = Math.min(1000, Math.floor(this.params.ttlMs / 8));
      this.rows = options.rows;
      this.leases = options.rows;
      this.totals = new SharedTotals(options.rows, counters, "", options.restored ?? []);
      this.book = new LeaseBook(counters, this.params, 2 * this.tickMs, this.tickMs);
      this.book.onWant = (urgent) => this.schedule(urgent);
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
      return;
    }
    if (!/^rediss?:\/\//.test(options.url)) {
      throw new InputError(`counters must be a redis:// URL (got ${JSON.stringify(options.url)})`);
    }
    this.url = redact(options.url);
    const params: LeaseParams = { ...LEASE_DEFAULTS, ...options.lease };
    if (!(params.ttlMs >= 400))
      throw new InputError(`lease.ttlMs must be at least 400 (got ${params.ttlMs})`);
    this.params = params;
    this.tickMs = Math.min(1000, Math.floor(params.ttlMs / 8));
    const prefix = options.prefix ?? "limitr:";
    // ioredis is loaded when an engine shares counters, not by every process that imports the engine.
    const { Redis: RedisClient, Cluster } = requireModule("ioredis") as typeof import("ioredis");
    const connection = {
      // A call while disconnected fails at once: decisions go on from held leases, retried next tick.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectionName: `limitr:${prefix}`.replace(/\s/g, "_"),
    };
    const retry = (times: number) => Math.min(50 * times, 1000);
    if (options.cluster) {
      const seed = new URL(options.url);
      const password = seed.password ? decodeURIComponent(seed.password) : undefined;
      const username = seed.username ? decodeURIComponent(seed.username) : undefined;
      // ioredis routes each script call to the node of its first key's slot.
      this.redis = new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retry,
        redisOptions: {
          ...connection,
          password,
          username,
          tls: seed.protocol === "rediss:" ? {} : undefined,
        },
      }) as unknown as Redis;
    } else {
      this.redis = new RedisClient(options.url, { lazyConnect: true, ...connection, retryStrategy: retry });
    }
    this.redis.on("error", (err: Error) => this.fail(err));
    const bySlot = options.bySlot ?? options.cluster ?? false;
    this.redisLeases = new RedisLeases(this.redis, { prefix: `${prefix}lease:`, params, bySlot });
    this.leases = this.redisLeases;
    this.totals = new SharedTotals(this.redis, counters, `${prefix}total:`, options.restored ?? [], bySlot);
    this.book = new LeaseBook(counters, params, 2 * this.tickMs, this.tickMs, options.clock);
    this.book.onWant = (urgent) => this.schedule(urgent);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Connect (a server that is down is reported in status, and decisions wait for it: `lease_pending`). */
  async connect(): Promise<void> {
    try {
      await (this.rows ?? (this.redis as Redis)).connect();
      this.reachable = true;
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Resolves once the acquire for `cid` queued by the last miss is applied (or failed). */
  settled(cid: number): Promise<void> {
    if (this.book.busy[cid] === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(cid);
      if (list) list.push(resolve);
      else this.waiters.set(cid, [resolve]);
    });
  }

  /**
   * Report what the leases spent (and gave back by refunds), push the totals
   * and pull other engines' (every counter this engine knows). Calls already
   * out land first: when it resolves, the pool holds every unit spent or refunded before it.
   */
  async flush(): Promise<void> {
    // Refills gathering for a shared call go out now.
    if (this.gathering !== null) {
      clearTimeout(this.gathering);
      this.gathering = null;
      this.sendAcquires();
    }
    await Promise.allSettled([...this.inFlight]);
    const jobs = this.book.unreportedJobs(Date.now());
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < jobs.length; i += BATCH) calls.push(this.report(jobs.slice(i, i + BATCH)));
    calls.push(this.syncTotals(true));
    await Promise.all(calls);
  }

  private syncTotals(all: boolean): Promise<unknown> {
    return this.track(
      this.totals.sync(all).then(
        (n) => this.ok(n),
        (e) => this.fail(e),
      ),
    );
  }

  status(): CountersStatus {
    const { leases, allowance, sliding, slidingAllowance } = this.book.held();
    return {
      url: this.url,
      reachable: this.reachable,
      leases,
      allowance,
      slidingLeases: sliding,
      slidingAllowance,
      pendingAcquires: this.book.wanted.length + this.pendingAcquires,
      calls: this.calls + (this.redisLeases?.calls ?? 0),
      lastError: this.lastError,
    };
  }

  /** Give every lease back, push the totals and disconnect. What cannot be sent is reclaimed by the lease TTL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.gathering !== null) clearTimeout(this.gathering);
    // Calls still out may queue orphans; once they are in, every lease is known and given back.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (this.reachable) {
      const jobs = this.book.all(Date.now());
      for (let i = 0; i < jobs.length; i += BATCH) {
        const chunk = jobs.slice(i, i + BATCH);
        await this.leases.releaseMany(chunk).then(
          (r) => this.ok(this.leaseCalls(), r.length > 0),
          (e) => this.fail(e),
        );
      }
    }
    await this.lastTotals();
    for (const list of this.waiters.values()) for (const w of list) w();
    this.waiters.clear();
    this.redis?.disconnect();
    await this.rows?.close();
  }

  /**
   * The last push of the totals, on close. Unlike leases, which their TTL
   * reclaims, counts missing from the totals stay missing for the period, so
   * a push that fails (a connection cut just before or during close) is tried
   * again, up to CLOSE_TOTALS_TRIES times in all, CLOSE_RETRY_MS apart, even
   * when the last call before close had failed. A server still unreachable
   * after that keeps what it had: this engine's own store keeps its counts.
   */
  private async lastTotals(): Promise<void> {
    for (let attempt = 0; attempt < CLOSE_TOTALS_TRIES; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, CLOSE_RETRY_MS));
      const pushed = await this.totals.sync(false).then(
        (n) => {
          this.ok(n);
          return true;
        },
        (e) => {
          this.fail(e);
          return false;
        },
      );
      if (pushed) return;
    }
  }

  /** `close` without waiting: the leases are reclaimed by their TTL. */
  closeSync(): void {
    this.closed = true;
    clearInterval(this.timer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.gathering !== null) clearTimeout(this.gathering);
    this.redis?.disconnect();
    void this.rows?.close();
  }

  private pendingAcquires = 0;

  private gathering: NodeJS.Timeout | null = null;

  private schedule(urgent: boolean): void {
    if (this.closed) return;
    if (!urgent) {
      // Sent by the next call out, or after REFILL_GATHER_MS.
      if (this.scheduled || this.gathering !== null) return;
      this.gathering = setTimeout(() => {
        this.gathering = null;
        this.sendAcquires();
      }, REFILL_GATHER_MS);
      this.gathering.unref();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.sendAcquires();
    });
  }

  private sendAcquires(): void {
    const book = this.book;
    if (this.closed) {
      // An acquire sent now would land after close gave the leases back: its grant would stay stranded.
      for (const cid of book.wanted.splice(0)) this.wake(cid);
      book.wantedNeed.length = 0;
      return;
    }
    const now = Date.now();
    if (!this.reachable && now < this.retryAt) {
      // Down: the queue waits for the next tick instead of failing call after call. A call
      // waiting for it (decideAsync) keeps the process alive until then: the tick timer does not.
      if (this.waiters.size > 0 && this.retryTimer === null && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.sendAcquires();
        }, this.retryAt - now);
      }
      return;
    }
    // Leases of passed buckets and periods go back first: sent on the same connection before
    // the acquires, Redis applies them first, so a new bucket's acquire sees their allowance.
    const orphans = book.orphans.splice(0);
    for (let i = 0; i < orphans.length; i += BATCH) this.report(orphans.slice(i, i + BATCH));
    // Refunds go back to the pool now: another engine may be waiting for that allowance.
    const refunds = book.refundJobs(now);
    for (let i = 0; i < refunds.length; i += BATCH) this.report(refunds.slice(i, i + BATCH));
    const cids = book.wanted.splice(0);
    const needs = book.wantedNeed.splice(0);
    const jobs: AcquireJob[] = [];
    for (let i = 0; i < cids.length; i++) {
      const job = book.acquireJob(cids[i] as number, needs[i] as number, now);
      if (job) jobs.push(job);
      else this.wake(cids[i] as number);
    }
    for (let i = 0; i < jobs.length; i += BATCH) this.acquire(jobs.slice(i, i + BATCH));
  }

  private acquire(jobs: AcquireJob[]): void {
    this.pendingAcquires += jobs.length;
    const requests = jobs.map((j) => ({
      pool: j.pool,
      request: {
        limit: j.limit,
        consumed: j.consumed,
        need: j.need,
        rate: j.rate,
        base: j.base,
        baseBuckets: j.baseBuckets,
        refunded: j.refunded,
      },
    }));
    const call = this.leases.acquireMany(requests).then(
      (replies) => {
        this.ok(this.leaseCalls(), true);
        const now = Date.now();
        for (let i = 0; i < jobs.length; i++) this.book.acquired(jobs[i] as AcquireJob, replies[i]!, now);
      },
      (err) => {
        this.fail(err);
        // A batch split by slot: the calls that succeeded were applied in Redis, their grants are ours.
        const replies = answered<AcquireResult>(err);
        const now = Date.now();
        jobs.forEach((j, i) => {
          const reply = replies[i];
          if (reply !== undefined) this.book.acquired(j, reply, now);
          else this.book.failed(j.cid, j.period, j.consumed, j.pool, j.refunded);
        });
      },
    );
    this.track(
      call.finally(() => {
        this.pendingAcquires -= jobs.length;
        for (const j of jobs) this.wake(j.cid);
      }),
    );
  }

  private report(jobs: ReportJob[]): Promise<unknown> {
    const call = this.leases.reportMany(jobs).then(
      (replies) => {
        this.ok(this.leaseCalls(), true);
        const now = Date.now();
        for (let i = 0; i < jobs.length; i++) this.book.reported(jobs[i] as ReportJob, replies[i]!, now);
      },
      (err) => {
        this.fail(err);
        // Reports whose slot's call succeeded are counted in Redis: sent again, they would count twice.
        const replies = answered<ReturnResult>(err);
        const now = Date.now();
        jobs.forEach((j, i) => {
          const reply = replies[i];
          if (reply !== undefined) this.book.reported(j, reply, now);
          else if (j.cid < 0) this.book.orphans.push(j);
          else this.book.failed(j.cid, j.period, j.consumed, j.pool, j.refunded);
        });
      },
    );
    // A decideAsync waiting on a counter whose renewal was in flight decides again.
    return this.track(call.finally(() => this.wakeAll(jobs)));
  }

  /** Renewals, orphaned leases, queued acquires (when Redis was down) and totals, once per tick. */
  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    const jobs: ReportJob[] = [];
    this.book.due(now, jobs);
    if (!this.reachable && now < this.retryAt) {
      // Nothing goes out while down; the jobs' units stay unreported for the next try.
      for (const j of jobs) this.book.failed(j.cid, j.period, j.consumed, j.pool, j.refunded);
      return;
    }
    // Leases given back (of passed periods and buckets, or idle) go out at once, before the
    // acquires on the same connection, so an acquire in a new bucket sees their allowance
    // (as in sendAcquires); renewals queue, RENEW_WINDOW batches at a time.
    const back = this.book.orphans.splice(0);
    const renewals: ReportJob[] = [];
    for (const j of jobs) (j.giveBack === Infinity ? back : renewals).push(j);
    for (let i = 0; i < back.length; i += BATCH) this.report(back.slice(i, i + BATCH));
    for (let i = 0; i < renewals.length; i += BATCH) this.renew(renewals.slice(i, i + BATCH));
    this.sendAcquires();
    // Half a tick early is on time: the interval timer runs a little late or early.
    if (now - this.syncedAt >= this.syncMs - this.tickMs / 2) {
      this.syncedAt = now;
      void this.syncTotals(false);
    }
  }

  /** Renewal batches waiting for their turn (see RENEW_WINDOW), and how many are out. */
  private readonly renewals: { jobs: ReportJob[]; done: () => void }[] = [];
  private renewing = 0;

  /** Queue a renewal batch: tracked from now, so a flush or close waits for it. */
  private renew(jobs: ReportJob[]): void {
    let done = () => {};
    void this.track(
      new Promise<void>((resolve) => {
        done = resolve;
      }),
    );
    this.renewals.push({ jobs, done });
    this.sendRenewals();
  }

  private sendRenewals(): void {
    while (this.renewing < RENEW_WINDOW && this.renewals.length > 0) {
      const { jobs, done } = this.renewals.shift() as { jobs: ReportJob[]; done: () => void };
      this.renewing++;
      void this.report(jobs).finally(() => {
        this.renewing--;
        done();
        this.sendRenewals();
      });
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private wakeAll(jobs: readonly ReportJob[]): void {
    if (this.waiters.size === 0) return;
    for (const j of jobs) if (j.cid >= 0) this.wake(j.cid);
  }

  private wake(cid: number): void {
    const list = this.waiters.get(cid);
    if (list === undefined) return;
    this.waiters.delete(cid);
    for (const w of list) w();
  }

  /** Calls a lease batch made, to add to `calls`: Redis's are counted by the lease client. */
  private leaseCalls(): number {
    return this.redisLeases === null ? 1 : 0;
  }

  private ok(calls: number, answered = calls > 0): void {
    // Nothing sent proves nothing about the server.
    if (!answered) return;
    this.calls += calls;
    this.reachable = true;
    this.lastError = null;
  }

  private fail(err: Error): void {
    this.reachable = false;
    this.lastError = `counters ${this.url}: ${err.message}`;
    this.retryAt = Date.now() + this.tickMs;
  }
}

/** The replies a failed batch still got (some of its per-slot calls succeeded), by item. */
function answered<R>(err: unknown): readonly (R | undefined)[] {
  return err instanceof PartialReplyError ? (err.replies as readonly (R | undefined)[]) : [];
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
