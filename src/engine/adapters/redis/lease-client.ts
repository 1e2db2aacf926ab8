import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import {
  type AcquireResult,
  LEASE_DEFAULTS,
  type LeaseParams,
  type PoolTotals,
  type ReturnResult,
  type SliceInput,
} from "../../core/engine/lease.js";
import { InputError } from "../../core/errors.js";
import { gather, hashTag, type NodeRouter, perSlot, type Send } from "./slots.js";

/** The shared functions; each command appends its entry point. Read once, next to this module. */
const LEASE_LUA = readFileSync(new URL("./lease.lua", import.meta.url), "utf8");

const COMMANDS = {
  limitrLeaseAcquire: "acquire()",
  limitrLeaseReport: "report(false)",
  limitrLeaseRelease: "release()",
  limitrLeaseSlice: "probe_slice()",
  limitrLeaseAcquireMany: "batch(acquire)",
  limitrLeaseReportMany: "batch(function() return report(false) end)",
  limitrLeaseReleaseMany: "batch(release)",
  limitrSlidingAcquireMany: "batch(acquire_sliding)",
  limitrSlidingReportMany: "batch(function() return report_sliding(false) end)",
  limitrSlidingReleaseMany: "batch(function() return report_sliding(true) end)",
} as const;

/** Batch commands take their key count first (three keys per pool). */
const VARIADIC = new Set([
  "limitrLeaseAcquireMany",
  "limitrLeaseReportMany",
  "limitrLeaseReleaseMany",
  "limitrSlidingAcquireMany",
  "limitrSlidingReportMany",
  "limitrSlidingReleaseMany",
]);

type Reply = Promise<string[]>;
interface LeaseCommands {
  limitrLeaseAcquire(...keysAndArgs: string[]): Reply;
  limitrLeaseReport(...keysAndArgs: string[]): Reply;
  limitrLeaseRelease(...keysAndArgs: string[]): Reply;
  limitrLeaseSlice(...args: string[]): Promise<string>;
  limitrLeaseAcquireMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
  limitrLeaseReportMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
  limitrLeaseReleaseMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
  limitrSlidingAcquireMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
  limitrSlidingReportMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
  limitrSlidingReleaseMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[][]>;
}

/** Registers the lease scripts on a connection, once (ioredis sends EVALSHA, and the source on a miss). */
function withCommands(redis: Redis): Redis & LeaseCommands {
  if (!("limitrLeaseAcquire" in redis)) {
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const lua = `${LEASE_LUA}\nreturn ${entry}\n`;
      if (VARIADIC.has(name)) redis.defineCommand(name, { lua });
      else redis.defineCommand(name, { numberOfKeys: name === "limitrLeaseSlice" ? 0 : 3, lua });
    }
  }
  return redis as Redis & LeaseCommands;
}

/** One pool: a counter in one period. `periodEnd` null for lifetime counters. */
export interface LeasePool {
  readonly counter: string;
  /** The period's start; for a sliding window, the start of the bucket the lease is for. */
  readonly periodStart: number;
  readonly periodEnd: number | null;
  /**
   * Units per lease unit (default 1): `minSlice` and `maxSlice` are
   * multiplied by it. A spend cap's pool counts nanos with a scale of 1e9,
   * so its slices are sized in money units. Pool values stay below 2^53 (exact in Lua's doubles).
   */
  readonly scale?: number;
  /** A sliding window: one pool for the whole window, allowance granted bucket by bucket. */
  readonly window?: SlidingPool;
}

/**
 * A sliding window's shape: `buckets` = ceil(windowMs / bucketMs) buckets
 * before the current one are summed with it (see `acquire_sliding` in lease.lua).
 */
export interface SlidingPool {
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly buckets: number;
}

export interface RedisLeasesOptions {
  /** Prefix of every key (default "limitr:lease:"). */
  readonly prefix?: string;
  readonly params?: LeaseParams;
  /** This engine's holder id (default host:pid:random). */
  readonly holder?: string;
  /** A pool's keys expire this long after its period ends (default one hour). */
  readonly graceMs?: number;
  /**
   * Split batch calls into one script call per Redis Cluster hash slot
   * (default: when the client is an ioredis `Cluster`). A single server takes
   * any pools in one call.
   */
  readonly bySlot?: boolean;
}

export interface AcquireRequest {
  readonly limit: number;
  /** Units consumed since the last report, reported in the same call (default 0). */
  readonly consumed?: number;
  /** Units a call needs now beyond the allowance held (0 = background refill). */
  readonly need: number;
  /** Recent demand, units per second. */
  readonly rate: number;
  /** Usage already counted this period when the pool does not exist yet (default 0). */
  readonly base?: number;
  /** Units refunded since the last call, given back to the pool in the same call (default 0). */
  readonly refunded?: number;
  /** Sliding window: usage already counted by bucket, `k:units,...`, when the pool does not exist yet. */
  readonly baseBuckets?: string;
  /** The pool's clock in ms (default: the Redis server's clock). */
  readonly now?: number;
}

/**
 * Quota leases in Redis: the atomic acquire / report / release of
 * `lease.lua` on one pool per (counter, period). Keys share the hash tag
 * `{counter@periodStart}` (`slots.ts`), so a pool lives in one Redis Cluster
 * slot and every script touches one slot, and a new
 * period is a new pool that starts from the full limit (R6).
 *
 * @example
 * const leases = new RedisLeases(new Redis("redis://127.0.0.1:6379"));
 * const pool = { counter: "acme/api", periodStart, periodEnd };
 * const { granted } = await leases.acquire(pool, { limit: 10_000, need: 1, rate: 50 });
 * await leases.report(pool, 40);          // consumed 40 since; renews the lease
 * await leases.release(pool, 2);          // on close: the unconsumed rest goes back
 */
export class RedisLeases {
  /**
   * Round trips asked of Redis: a script call, or a pipeline of them (a batch
   * split by slot on a cluster sends one pipeline per node, holding the calls
   * of the slots that node serves). Redirections ioredis follows are not counted.
   */
  calls = 0;
  readonly holder: string;
  readonly params: LeaseParams;
  private readonly redis: Redis & LeaseCommands;
  private readonly prefix: string;
  private readonly graceMs: number;
  private readonly bySlot: boolean;
  /** On a cluster client: the per-slot calls of a batch go in one pipeline per node. */
  private readonly router?: { cluster: NodeRouter; direct: Send; count: () => void };
  /**
   * The running total of refunds sent per pool (a sliding window's per
   * bucket) that the pool acknowledged, and when the pool ends: a call sends
   * this plus the refunds not acknowledged yet (which the engine sends again
   * after a failed call), so one resent after a lost reply counts once.
   */
  private readonly refundsSent = new Map<string, { total: number; end: number }>();
  private prunedAt = Date.now();

  constructor(redis: Redis, options: RedisLeasesOptions = {}) {
    this.redis = withCommands(redis);
    this.prefix = options.prefix ?? "limitr:lease:";
    if (/[{}]/.test(this.prefix)) {
      throw new InputError(
        `lease key prefix ${JSON.stringify(this.prefix)} must not contain { or }: each pool's keys carry their own hash tag`,
      );
    }
    const cluster = (redis as { isCluster?: boolean }).isCluster === true;
    this.bySlot = options.bySlot ?? cluster;
    if (cluster)
      this.router = {
        cluster: redis as unknown as NodeRouter,
        direct: (command, args) => this.send(command, args),
        count: () => {
          this.calls++;
        },
      };
    this.params = options.params ?? LEASE_DEFAULTS;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    // The separator would break the batch calls' argument strings (see SEP).
    if (this.holder.includes(SEP))
      throw new InputError(
        `lease: holder must not contain the unit separator (U+001F), got ${JSON.stringify(this.holder)}`,
      );
    this.graceMs = options.graceMs ?? 3_600_000;
  }

  /** The pool's three keys: {limit, consumed, outstanding}, allowances, expiries (a sliding window's span its buckets). */
  keys(pool: LeasePool): readonly [string, string, string] {
    return this.named(pool).keys;
  }

  /** The names of each pool object already seen (a holder's pool object lives as long as its lease). */
  private readonly names = new WeakMap<LeasePool, PoolNames>();

  private named(pool: LeasePool): PoolNames {
    const known = this.names.get(pool);
    if (known !== undefined) return known;
    const name =
      pool.window === undefined
        ? `${pool.counter}@${pool.periodStart}`
        : `${pool.counter}@sliding:${pool.window.windowMs}`;
    const tag = `${this.prefix}${hashTag(name)}`;
    const names: PoolNames = {
      keys: [`${tag}:pool`, `${tag}:alw`, `${tag}:exp`],
      refundKey: `${tag}:pool|${pool.periodStart}`,
    };
    this.names.set(pool, names);
    return names;
  }

  /** Reclaim expired leases, report `consumed`, and take a slice (`granted`, possibly 0). */
  async acquire(pool: LeasePool, r: AcquireRequest): Promise<AcquireResult> {
    if (pool.window !== undefined)
      return (await this.acquireMany([{ pool, request: r }]))[0] as AcquireResult;
    const p = this.params;
    this.calls++;
    const refund = this.refundTotal(pool, r.refunded);
    const reply = await this.redis.limitrLeaseAcquire(
      ...this.head(pool, r.consumed ?? 0, r.now),
      num(r.limit, "limit"),
      num(r.base ?? 0, "base"),
      num(r.need, "need"),
      num(r.rate, "rate"),
      String(p.minSlice * (pool.scale ?? 1)),
      String(p.maxSlice * (pool.scale ?? 1)),
      String(p.horizonMs),
      String(p.spread),
      String(refund.total),
      String(refund.pending),
    );
    this.refunded([refund]);
    return acquireResult(reply);
  }

  /**
   * Report `consumed` since the last report (and `refunded`, units given back
   * by refunds since), give back up to `giveBack`, and renew the lease.
   */
  async report(
    pool: LeasePool,
    consumed: number,
    giveBack = 0,
    now?: number,
    refunded = 0,
  ): Promise<ReturnResult> {
    return (await this.reportMany([{ pool, consumed, giveBack, now, refunded }]))[0] as ReturnResult;
  }

  /** Report `consumed` and give the unconsumed allowance back (a graceful close). */
  async release(pool: LeasePool, consumed: number, now?: number, refunded = 0): Promise<ReturnResult> {
    return (await this.releaseMany([{ pool, consumed, now, refunded }]))[0] as ReturnResult;
  }

  /**
   * `acquire` on many pools in one script call (one round trip; atomic per
   * call). On a Redis Cluster (`bySlot`), one call per hash slot, concurrently:
   * when some of them fail, a `PartialReplyError` carries the others' replies.
   */
  async acquireMany(
    items: readonly { pool: LeasePool; request: AcquireRequest }[],
  ): Promise<AcquireResult[]> {
    if (items.length === 0) return [];
    return byKind(items, (group, sliding) =>
      perSlot(
        group,
        this.bySlot,
        (i) => this.keys(i.pool)[0],
        (slot, send) => this.acquireSlot(slot, sliding, send),
        this.router,
      ),
    );
  }

  private async acquireSlot(
    items: readonly { pool: LeasePool; request: AcquireRequest }[],
    sliding: boolean,
    send: Send = (c, a) => this.send(c, a),
  ): Promise<AcquireResult[]> {
    const p = this.params;
    const n = items.length;
    // The key count, every pool's three keys, then one argument string per pool.
    const all: (string | number)[] = new Array(1 + 4 * n);
    all[0] = 3 * n;
    const refunds: RefundTotal[] = [];
    const wall = Date.now();
    for (let i = 0; i < n; i++) {
      const { pool, request: r } = items[i] as { pool: LeasePool; request: AcquireRequest };
      const refund = this.refundTotal(pool, r.refunded);
      if (refund !== NO_REFUND) refunds.push(refund);
      const [k1, k2, k3] = this.keys(pool);
      all[1 + 3 * i] = k1;
      all[2 + 3 * i] = k2;
      all[3 + 3 * i] = k3;
      const base = sliding ? bucketList(r.baseBuckets ?? "") : num(r.base ?? 0, "base");
      const scale = pool.scale ?? 1;
      all[1 + 3 * n + i] =
        `${this.packed(pool, r.consumed ?? 0, r.now, wall)}${SEP}${num(r.limit, "limit")}${SEP}${base}${SEP}${num(r.need, "need")}${SEP}${num(r.rate, "rate")}${SEP}${p.minSlice * scale}${SEP}${p.maxSlice * scale}${SEP}${p.horizonMs}${SEP}${p.spread}${SEP}${refund.total}${SEP}${refund.pending}`;
    }
    const command = sliding ? "limitrSlidingAcquireMany" : "limitrLeaseAcquireMany";
    const reply = (await send(command, all)) as string;
    this.refunded(refunds);
    return unpack(reply, acquireResult);
  }

  /** `report` on many pools in one script call (see `acquireMany`); `giveBack: Infinity` gives everything back. */
  async reportMany(
    items: readonly {
      pool: LeasePool;
      consumed: number;
      giveBack: number;
      now?: number;
      refunded?: number;
    }[],
  ): Promise<ReturnResult[]> {
    // giveBack Infinity gives the whole allowance back (a release, which the script reads as any number above it).
    return this.many(
      "limitrLeaseReportMany",
      items,
      (i) => `${SEP}${i.giveBack === Infinity ? String(Number.MAX_VALUE) : num(i.giveBack, "giveBack")}`,
    );
  }

  /** `release` on many pools in one script call (see `acquireMany`). */
  async releaseMany(
    items: readonly { pool: LeasePool; consumed: number; now?: number; refunded?: number }[],
  ): Promise<ReturnResult[]> {
    return this.many("limitrLeaseReleaseMany", items, () => "");
  }

  private async many<T extends { pool: LeasePool; consumed: number; now?: number; refunded?: number }>(
    command: "limitrLeaseReportMany" | "limitrLeaseReleaseMany",
    items: readonly T[],
    /** Arguments after the leading ones, each after SEP ("" for none). */
    extra: (item: T) => string,
  ): Promise<ReturnResult[]> {
    if (items.length === 0) return [];
    return byKind(items, (group, sliding) =>
      perSlot(
        group,
        this.bySlot,
        (i) => this.keys(i.pool)[0],
        (slot, send) => this.manySlot(sliding ? SLIDING_OF[command] : command, slot, extra, send),
        this.router,
      ),
    );
  }

  private async manySlot<T extends { pool: LeasePool; consumed: number; now?: number; refunded?: number }>(
    command: ManyCommand,
    items: readonly T[],
    extra: (item: T) => string,
    send: Send = (c, a) => this.send(c, a),
  ): Promise<ReturnResult[]> {
    const n = items.length;
    const all: (string | number)[] = new Array(1 + 4 * n);
    all[0] = 3 * n;
    const refunds: RefundTotal[] = [];
    const wall = Date.now();
    for (let i = 0; i < n; i++) {
      const item = items[i] as T;
      const refund = this.refundTotal(item.pool, item.refunded);
      if (refund !== NO_REFUND) refunds.push(refund);
      const [k1, k2, k3] = this.keys(item.pool);
      all[1 + 3 * i] = k1;
      all[2 + 3 * i] = k2;
      all[3 + 3 * i] = k3;
      all[1 + 3 * n + i] =
        `${this.packed(item.pool, item.consumed, item.now, wall)}${extra(item)}${SEP}${refund.total}${SEP}${refund.pending}`;
    }
    const reply = (await send(command, all)) as string;
    this.refunded(refunds);
    return unpack(reply, returnResult);
  }

  /** One script call, on its own round trip. */
  private send(command: string, args: readonly (string | number)[]): Promise<unknown> {
    this.calls++;
    const redis = this.redis as unknown as Record<
      string,
      (...a: readonly (string | number)[]) => Promise<unknown>
    >;
    return (redis[command] as (...a: readonly (string | number)[]) => Promise<unknown>).call(redis, ...args);
  }

  /** The running total of refunds to send for `pool` with `refunded` more (see `refundsSent`). */
  private refundTotal(pool: LeasePool, refunded = 0): RefundTotal {
    if (!(refunded >= 0) || !Number.isFinite(refunded))
      throw new InputError(`lease report: refunded must be a finite number >= 0, got ${refunded}`);
    // Nothing refunded now or acknowledged before (the common renewal): the same empty total.
    if (refunded === 0 && this.refundsSent.size === 0) return NO_REFUND;
    const key = this.named(pool).refundKey;
    const sent = this.refundsSent.get(key)?.total ?? 0;
    const end =
      pool.window !== undefined
        ? pool.periodStart + pool.window.windowMs + pool.window.bucketMs
        : pool.periodEnd;
    return { key, total: sent + refunded, pending: refunded, end: end ?? Number.POSITIVE_INFINITY };
  }

  /** The pool applied these totals (its reply came back). */
  private refunded(totals: readonly RefundTotal[]): void {
    for (const t of totals) if (t.total > 0) this.refundsSent.set(t.key, { total: t.total, end: t.end });
    const now = Date.now();
    if (this.refundsSent.size === 0 || now - this.prunedAt < 600_000) return;
    this.prunedAt = now;
    // A pool past its end and grace is gone from Redis: its total would start again from zero.
    for (const [key, { end }] of this.refundsSent) if (end + this.graceMs < now) this.refundsSent.delete(key);
  }

  /**
   * The pool's totals, as stored. For a sliding window: what the window
   * ending in the pool's bucket holds (its buckets' consumed and outstanding).
   */
  async totals(pool: LeasePool): Promise<PoolTotals> {
    const [poolKey, , expKey] = this.keys(pool);
    const w = pool.window;
    if (w !== undefined) {
      const fields = await this.redis.hgetall(poolKey);
      const k = Math.floor(pool.periodStart / w.bucketMs);
      let consumed = 0;
      let outstanding = 0;
      for (const [f, v] of Object.entries(fields)) {
        const j = Number(f.slice(1));
        if (!Number.isInteger(j) || j < k - w.buckets || j > k) continue;
        if (f[0] === "c") consumed += Number(v);
        else if (f[0] === "o") outstanding += Number(v);
      }
      return {
        limit: Number(fields.limit ?? 0),
        consumed,
        outstanding,
        holders: await this.redis.zcard(expKey),
      };
    }
    const [limit, consumed, outstanding] = await this.redis.hmget(
      poolKey,
      "limit",
      "consumed",
      "outstanding",
    );
    const holders = await this.redis.zcard(expKey);
    return {
      limit: Number(limit ?? 0),
      consumed: Number(consumed ?? 0),
      outstanding: Number(outstanding ?? 0),
      holders,
    };
  }

  /** `lease_slice` as the script computes it (for the agreement test with `leaseSlice`). */
  async sliceInScript(input: SliceInput, p: LeaseParams = this.params): Promise<number> {
    const args = [
      input.remainder,
      input.holders,
      input.rate,
      input.need,
      input.held,
      p.minSlice,
      p.maxSlice,
      p.horizonMs,
      p.spread,
    ];
    return Number(await this.redis.limitrLeaseSlice(...args.map(String)));
  }

  /** A single call's keys and leading arguments (see `packed`). */
  private head(pool: LeasePool, consumed: number, now: number | undefined): string[] {
    return [...this.keys(pool), ...this.packed(pool, consumed, now, Date.now()).split(SEP)];
  }

  /**
   * The arguments every script call starts with, joined by SEP as a batch
   * sends them: holder, now, TTL, then the pool's expiry and `consumed` (a
   * sliding window: grace, `consumed`, its bucket and shape). `wall` is this
   * host's clock, read once per batch.
   */
  private packed(pool: LeasePool, consumed: number, now: number | undefined, wall: number): string {
    if (!(consumed >= 0) || !Number.isFinite(consumed)) {
      throw new InputError(`lease report: consumed must be a finite number >= 0, got ${consumed}`);
    }
    const at = now === undefined ? "" : num(now, "now");
    const w = pool.window;
    if (w !== undefined) {
      const bucket = Math.floor(pool.periodStart / w.bucketMs);
      return `${this.holder}${SEP}${at}${SEP}${this.params.ttlMs}${SEP}${this.graceMs}${SEP}${consumed}${SEP}${bucket}${SEP}${w.bucketMs}${SEP}${w.buckets}`;
    }
    // Never in the past: a period that already ended on this host's clock (a fake clock, a skewed
    // host) would otherwise lose its pool between two calls.
    const expireAt = pool.periodEnd === null ? 0 : Math.max(pool.periodEnd, wall) + this.graceMs;
    return `${this.holder}${SEP}${at}${SEP}${this.params.ttlMs}${SEP}${expireAt}${SEP}${consumed}`;
  }
}

interface RefundTotal {
  readonly key: string;
  readonly total: number;
  /** The part of `total` whose reply did not come back yet (this call's refunds, and failed calls'). */
  readonly pending: number;
  readonly end: number;
}

const NO_REFUND: RefundTotal = { key: "", total: 0, pending: 0, end: Number.POSITIVE_INFINITY };

/** A pool's key names, worked out once per pool object. */
interface PoolNames {
  readonly keys: readonly [string, string, string];
  /** Where `refundsSent` keeps the pool's running total (a sliding window's per bucket). */
  readonly refundKey: string;
}

type ManyCommand =
  | "limitrLeaseReportMany"
  | "limitrLeaseReleaseMany"
  | "limitrSlidingReportMany"
  | "limitrSlidingReleaseMany";

const SLIDING_OF = {
  limitrLeaseReportMany: "limitrSlidingReportMany",
  limitrLeaseReleaseMany: "limitrSlidingReleaseMany",
} as const;

/**
 * Run `call` on the calendar pools and on the sliding ones separately (two
 * scripts) and put the replies back in the order of `items` (one failing
 * leaves the other's replies: `PartialReplyError`).
 */
async function byKind<T extends { pool: LeasePool }, R>(
  items: readonly T[],
  call: (group: T[], sliding: boolean) => Promise<R[]>,
): Promise<R[]> {
  let sliding = 0;
  for (const i of items) if (i.pool.window !== undefined) sliding++;
  if (sliding === 0) return call([...items], false);
  if (sliding === items.length) return call([...items], true);
  const groups: [number[], number[]] = [[], []];
  items.forEach((item, i) => {
    groups[item.pool.window === undefined ? 0 : 1].push(i);
  });
  const [calendar, windows] = groups;
  return gather(items.length, groups, [
    call(
      calendar.map((i) => items[i] as T),
      false,
    ),
    call(
      windows.map((i) => items[i] as T),
      true,
    ),
  ]);
}

/** Joins a pool's arguments in a batch call (the scripts' `fields`); no argument can hold it. */
const SEP = "\x1f";

/** A `k:units,...` bucket list as the script reads it (integers k, finite units > 0). */
function bucketList(list: string): string {
  if (list !== "" && (list.includes(SEP) || !/^-?\d+:[^,:]+(,-?\d+:[^,:]+)*$/.test(list)))
    throw new InputError(`lease: baseBuckets must be "k:units,...", got ${JSON.stringify(list)}`);
  return list;
}

function num(x: number, field: string): string {
  if (!Number.isFinite(x)) throw new InputError(`lease: ${field} must be a finite number, got ${x}`);
  return String(x);
}

/** A batch's reply (see `batch` in lease.lua): the pools' replies, each `n,n,...`, joined by `;`. */
function unpack<R>(reply: string, read: (f: readonly string[]) => R): R[] {
  if (reply === "") return [];
  const out: R[] = [];
  for (const one of reply.split(";")) out.push(read(one.split(",")));
  return out;
}

/** A reply's lease state, after its first field. */
function leaseState(f: readonly string[]) {
  return {
    allowance: Number(f[1]),
    remainder: Number(f[2]),
    holders: Number(f[3]),
    expiresAt: Number(f[4]),
  };
}

/** An acquire's reply: granted, then the lease state. */
function acquireResult(f: readonly string[]): AcquireResult {
  return { granted: Number(f[0]), ...leaseState(f) };
}

/** A report's or release's reply: returned, then the lease state. */
function returnResult(f: readonly string[]): ReturnResult {
  return { returned: Number(f[0]), ...leaseState(f) };
}
