import type { PropertyValue } from "../model.js";
import type { WalletBatch, WalletStore } from "../wallet/store-rows.js";
import type { CounterTable } from "./counter.js";

/**
 * The port the engine persists through. Implementations: an in-memory store
 * (tests, examples, ephemeral services), SQLite (the embedded default) and
 * Postgres (shared by many instances; it writes in the background).
 * Reads happen once at open; afterwards the engine only writes batches, so a
 * store never sits on the decision path.
 */
export interface EngineStore extends WalletStore {
  /** `memory`, `sqlite:PATH` or the postgres:// URL without its password, for status and error messages. */
  readonly location: string;
  /**
   * A stable id of this store (hex), kept across engines and restarts: hold
   * ids carry it, so a hold issued on another store is told apart. Optional.
   */
  readonly storeId?: string;
  /** Persisted counters, one per counter key. */
  loadCounters(): CounterRow[];
  /** Reservations not yet settled or released (some may have expired). */
  loadHolds(): HoldRow[];
  /** The whole plan history (setPlan / `customers set`). */
  loadPlanHistory(): SubscriptionRow[];
  /**
   * Plan history rows that other processes recorded since the previous call
   * (such as `limitr customers set` while the engine runs), possibly with
   * some already returned; [] when nothing else wrote. Optional: a store only
   * its engine writes to has none.
   */
  externalPlanChanges?(): SubscriptionRow[];
  /**
   * The invoice currency recorded per customer (`limitr customers set
   * --currency`), read at open; a contract's `currency` wins over it.
   * Optional: a store without the table has none.
   */
  loadCustomerCurrencies?(): [customer: string, currency: string][];
  /** Ids of the most recent `limit` events, newest last (to seed idempotency after a restart). */
  recentEventIds(limit: number): string[];
  /** Apply one batch atomically: all of it or none of it. */
  write(batch: WriteBatch): void;
  /** Note that a policy became active (at open, and at each bundle reload): the store's audit of what decided. */
  recordActivation(activation: PolicyActivation): void;
  /** Release the store (and its owner lock). Idempotent. */
  close(): void;
  /** The owner lease of a store other engines can open (SQLite); absent when only this engine can reach it. */
  readonly lease?: StoreLease;
  /**
   * Several engines may open this store at once (Postgres): their hard
   * limits, caps and wallets then need shared counters (R16).
   */
  readonly shared?: boolean;
  /**
   * A store that writes in the background (Postgres): its reachability and
   * write buffer, for status(). Absent when `write` commits before it returns.
   */
  health?(): StoreHealth;
  /** Whether the background write buffer, with `extra` more events, would be past its bound. */
  full?(extra?: number): boolean;
  /** Resolves when every batch given to `write` is committed; rejects after `timeoutMs` (kept and retried). */
  drain?(timeoutMs?: number): Promise<void>;
}

/** A background-writing store as status() reports it. */
export interface StoreHealth {
  /** The last write or read reached the store. */
  reachable: boolean;
  /** Events handed to the store and not yet committed. */
  bufferedEvents: number;
  bufferedBatches: number;
  /** The bound: past it the store refuses batches and the engine refuses counted calls (`store_backlog`). */
  maxBufferedEvents: number;
  /** Events committed since open. */
  writtenEvents: number;
  lastWriteAt: number | null;
  lastError: string | null;
}

/**
 * A store's owner lock as a lease: the holder renews it; another engine may
 * take it over once it went `leaseMs` without renewal (or its process is gone).
 */
export interface StoreLease {
  readonly leaseMs: number;
  /** Extend the lease if this store still holds it; false when another engine took it over. */
  renew(): boolean;
  /** Take the lease back once its holder is gone or stale; true when taken. */
  reacquire(): boolean;
  /**
   * Set by a write that found the lease taken over: it wrote the batch's
   * events and plan changes (what happened) but not its counters and holds
   * (the new holder's are the truth). Cleared by `reacquire`.
   */
  readonly fenced: boolean;
}

export interface PolicyActivation {
  at: number;
  version: number;
  digest: string;
  /** Where it came from: store, cache, directory, file, object. */
  source: string;
  previousVersion: number | null;
}

export interface CounterRow {
  key: string;
  owner: string;
  entitlement: string;
  /** Start of the period `used` belongs to (epoch ms); a stale period resets lazily. */
  periodStart: number;
  used: number;
  /** Counted events in the period (percentage `free_events`). */
  events: number;
  updatedAt: number;
  /** What an interval or sliding period keeps beyond the numbers (anchor, buckets); absent for calendar periods. */
  periodState?: string | null;
}

/**
 * The counters a batch changed, as the engine hands them to `write` (the
 * store stamps `updated_at` with the batch time): a columnar view over the
 * engine's counter table, so a flush allocates no object per counter.
 */
export interface CounterColumns {
  readonly length: number;
  key(i: number): string;
  owner(i: number): string;
  entitlement(i: number): string;
  periodStart(i: number): number;
  used(i: number): number;
  events(i: number): number;
  /** Counter i's period state (see `CounterRow.periodState`); null for calendar periods. */
  periodState(i: number): string | null;
  /** The engine's id of counter i: its index in `table`. */
  id(i: number): number;
  /**
   * The engine's counter table, for a store that keeps a copy of it in the
   * same layout (the memory store). Counters not listed are unchanged since
   * the previous batch of the same table.
   */
  readonly table: CounterTable;
}

export interface HoldRow {
  id: string;
  key: string;
  customer: string;
  entitlement: string;
  amount: number;
  expiresAt: number;
}

export interface SubscriptionRow {
  customer: string;
  effectiveAt: number;
  plan: string;
  /** Add-on plans held with `plan` (SPEC §15), sorted; absent or empty = none. */
  addOns?: readonly string[];
  recordedAt: number;
}

/** One usage event as stored (SPEC §6) with the bundle it was decided under (R14). */
export interface StoredEvent {
  id: string;
  type: string;
  customer: string;
  ts: number;
  value: number | null;
  properties: Record<string, PropertyValue> | null;
}

/**
 * Everything one flush persists. Events are handed over as a columnar view so
 * the write-behind buffer never allocates an object per call.
 */
export interface WriteBatch {
  events: EventColumns;
  bundleVersion: number;
  bundleDigest: string;
  /** When the batch was written (epoch ms). */
  at: number;
  /** Read during `write` only: the engine keeps changing its counters afterwards. */
  counters: CounterColumns;
  holdsUpsert: HoldRow[];
  holdsDelete: string[];
  subscriptions: SubscriptionRow[];
  /** Ledger rows and changed wallets (SPEC §12); absent when no wallet changed. */
  wallets?: WalletBatch;
}

export interface EventColumns {
  readonly length: number;
  event(i: number): StoredEvent;
  /**
   * Event i as a row, without building the StoredEvent: id, type, customer,
   * ts, value, properties (JSON text or null) into `out` from `at`.
   */
  fill?(i: number, out: unknown[], at: number): void;
  /** Explicit (caller-given) id of event i, or undefined when the id was generated (unique by construction). */
  explicitId(i: number): string | undefined;
  /** How many events have an explicit id: with none, a store has no duplicate to look for. */
  readonly explicit: number;
  /** A copy that stays valid after the buffer is reused (cheap: column slices, no object per event). */
  snapshot(): EventColumns;
}
