import { SqliteEngineStore } from "../adapters/store/engine-store.js";
import { MemoryEngineStore } from "../adapters/store/memory-store.js";
import { isPostgresUrl, redactUrl } from "../adapters/store/postgres/url.js";
import type { CounterTable } from "../core/engine/counter.js";
import type { CounterRow, EngineStore, EventColumns, HoldRow } from "../core/engine/store-port.js";
import { InputError } from "../core/errors.js";
import type { PlanBook } from "./plan-book.js";
import { DirtyCounters, WriteBehind } from "./write-behind.js";

/** Open the store named by `LimitrOptions.store`. */
export function openStore(store: string | EngineStore, leaseMs?: number): EngineStore {
  if (leaseMs !== undefined && !(typeof leaseMs === "number" && leaseMs >= 100 && leaseMs < Infinity))
    throw new InputError(`storeLeaseMs must be a number of milliseconds >= 100 (got ${String(leaseMs)})`);
  if (typeof store !== "string") return store;
  if (store === "memory") return new MemoryEngineStore();
  if (store.startsWith("sqlite:")) return new SqliteEngineStore(store.slice("sqlite:".length), leaseMs);
  if (isPostgresUrl(store))
    throw new InputError(
      `a postgres:// store is opened asynchronously: pass it to Limitr.open (or PgEngineStore.open) (got ${redactUrl(store)})`,
    );
  throw new InputError(
    `unknown store "${redactUrl(store)}": use "memory", "sqlite:PATH" or "postgres://HOST/DB[?schema=NAME]"`,
  );
}

/**
 * What an engine takes from its store, at open and again after taking a lost
 * lease back: the plan history and recent event ids go in place, counters and
 * holds are returned for the meters.
 */
export function restoreFrom(
  store: EngineStore,
  plans: PlanBook,
  seen: IdWindow,
): { counters: CounterRow[]; holds: HoldRow[] } {
  for (const row of store.loadPlanHistory())
    plans.insert(row.customer, row.effectiveAt, row.plan, row.addOns);
  for (const [customer, currency] of store.loadCustomerCurrencies?.() ?? [])
    plans.currencies.set(customer, currency);
  for (const id of store.recentEventIds(seen.size)) if (!seen.has(id)) seen.add(id);
  return { counters: store.loadCounters(), holds: store.loadHolds() };
}

/**
 * The idempotency window (R13): the most recent `size` event ids, a set for
 * lookups plus a ring in arrival order to evict the oldest. Ids older than the
 * window are still refused by the store's UNIQUE(id), but would count again.
 */
export class IdWindow {
  private readonly seen = new Set<string>();
  /**
   * The ids in arrival order. It grows as ids come (allocating the whole
   * window up front cost every `Limitr.open` 3-5 ms for the default 100,000),
   * then wraps at `cap`, the oldest at `pos`.
   */
  private readonly ring: (string | undefined)[] = [];
  private readonly cap: number;
  private pos = 0;

  constructor(readonly size: number) {
    this.cap = Math.max(1, size);
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  add(id: string): void {
    const ring = this.ring;
    if (ring.length < this.cap) ring.push(id);
    else {
      const old = ring[this.pos];
      if (old !== undefined) this.seen.delete(old);
      ring[this.pos] = id;
      this.pos = this.pos + 1 === ring.length ? 0 : this.pos + 1;
    }
    this.seen.add(id);
  }

  /** Forget an id whose write failed (its ring slot is reclaimed by eviction later). */
  delete(id: string): void {
    this.seen.delete(id);
  }
}

const open = new Set<Persistence>();
let exitHooked = false;

/** Flush every open engine when the process ends: `beforeExit` may retry later, `exit` allows only synchronous work. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("beforeExit", () => {
    for (const p of open) p.flushQuietly();
  });
  process.on("exit", () => {
    for (const p of [...open]) {
      try {
        p.close();
      } catch {
        // Nothing is left to report to at exit; the store keeps what it had.
      }
    }
  });
}

export interface PersistenceOptions {
  store: EngineStore;
  sync: boolean;
  maxEvents: number;
  maxDelayMs: number;
  idPrefix: string;
  /** Identity of the policy active at open (R14); `rebrand` changes it on a bundle reload. */
  version: number;
  digest: string;
  clock: () => number;
  /** Ids of holds that expired since the last flush (to delete from the store). */
  drainExpired: () => string[];
  /** The engine's counters (the write-behind queues changed ones by id). */
  counters: CounterTable;
  /** A write found the store's owner lease taken over (see `StoreLease.fenced`). */
  fenced: () => void;
  /** A write was refused for a full background buffer (see `EngineStore.full`). */
  backlog: () => void;
}

/**
 * Write-behind: what the engine changed since the last flush, and when to
 * flush it. Batched: when `maxEvents` events are buffered, `maxDelayMs` after
 * the first one (an unref'd timer), on `flush()`, `close()` and process exit.
 * Sync: the engine flushes after every change itself.
 *
 * A batch written because the event buffer is full carries the events (and
 * holds, plan changes, wallets) but not the changed counters: they stay
 * queued for the timed flush, at most `maxDelayMs` later, or an explicit
 * one. Under sustained traffic most counters change in every batch, and
 * their rows cost about as much to write as the events; written at the
 * timed flush, each changed counter is written once per `maxDelayMs`
 * instead of once per batch.
 */
export class Persistence {
  readonly wb: WriteBehind;
  readonly store: EngineStore;
  lastFlushAt: number | null = null;
  lastError: string | null = null;
  private version: number;
  private digest: string;
  /** Events buffered under a policy that is no longer active, written (with its identity) before the rest. */
  private readonly sealed: { events: EventColumns; version: number; digest: string }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** After a failed full-batch write, calls do not retry before this instant (the timer does). */
  private retryAt = -Infinity;
  private readonly noCounters: DirtyCounters;

  constructor(private readonly o: PersistenceOptions) {
    this.store = o.store;
    this.version = o.version;
    this.digest = o.digest;
    this.wb = new WriteBehind(o.idPrefix, o.counters);
    this.noCounters = new DirtyCounters(o.counters);
    open.add(this);
    hookExit();
  }

  /**
   * Something was buffered: with sync durability write it now (errors go to
   * the caller); batched, write when the batch is full, else make sure a
   * flush is due. A batched write that fails never fails the call that
   * triggered it: the batch stays buffered and is retried after `maxDelayMs`.
   */
  changed(now: number): void {
    if (this.o.sync) this.flush(now);
    else if (this.wb.events.length >= this.o.maxEvents && now >= this.retryAt) {
      try {
        this.flush(now, false);
        // The counters it left queued are written by the timed flush.
        this.schedule();
      } catch {
        this.retryAt = now + this.o.maxDelayMs;
        this.schedule();
      }
    } else this.schedule();
  }

  /** Events buffered and not yet written, including those sealed by a reload. */
  get pendingEvents(): number {
    let n = this.wb.events.length;
    for (const s of this.sealed) n += s.events.length;
    return n;
  }

  /**
   * A new bundle is active. A batch is stamped with one bundle identity, so
   * the events buffered so far are set aside with the identity they were
   * decided under (R14) and written first by the next flush.
   */
  rebrand(version: number, digest: string): void {
    if (this.wb.events.length > 0) {
      this.sealed.push({ events: this.wb.events.snapshot(), version: this.version, digest: this.digest });
      this.wb.events.clear();
      this.schedule();
    }
    this.version = version;
    this.digest = digest;
  }

  private schedule(): void {
    if (this.timer === null && !this.closed)
      this.timer = setTimeout(() => this.flushQuietly(), this.o.maxDelayMs).unref();
  }

  /**
   * Write everything buffered in one transaction (without the changed
   * counters when `counters` is false: they stay queued); on failure it stays
   * buffered and the error is rethrown.
   */
  flush(now: number, counters = true): void {
    for (const id of this.o.drainExpired()) this.wb.holdsDelete.push(id);
    if (!this.wb.pending && this.sealed.length === 0) return;
    if (this.closed) throw new InputError("this limitr engine is closed; open a new one");
    try {
      while (this.sealed.length > 0) {
        const s = this.sealed[0] as (typeof this.sealed)[number];
        this.store.write({
          at: now,
          events: s.events,
          bundleVersion: s.version,
          bundleDigest: s.digest,
          counters: this.noCounters,
          holdsUpsert: [],
          holdsDelete: [],
          subscriptions: [],
        });
        this.sealed.shift();
      }
      const batch = this.wb.batch(this.version, this.digest, now);
      if (!counters) batch.counters = this.noCounters;
      this.store.write(batch);
    } catch (err) {
      this.lastError = `flush failed: ${(err as Error).message}`;
      if (this.store.full?.(this.pendingEvents) === true) this.o.backlog();
      throw err;
    }
    this.wb.committed(counters);
    this.lastFlushAt = now;
    this.lastError = null;
    if (this.store.lease?.fenced === true) this.o.fenced();
  }

  /** Timer and `beforeExit` path: a failure is kept for status() and retried after `maxDelayMs`. */
  flushQuietly(): void {
    this.timer = null;
    try {
      this.flush(this.o.clock());
    } catch {
      this.schedule();
    }
  }

  /** Flush, then release the store (and its owner lock) even if the flush failed. Idempotent. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush(this.o.clock());
    } finally {
      this.closed = true;
      open.delete(this);
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.store.close();
    }
  }
}
