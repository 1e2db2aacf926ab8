import type { LeaseParams } from "../core/engine/lease.js";
import type { EngineStore, StoreHealth } from "../core/engine/store-port.js";
import type { PropertyValue } from "../core/model.js";
import type { DeliverAlertsOptions, DeliveryStatus } from "./alert-delivery.js";
import type { PolicyInput, PolicySourceKind } from "./policy-input.js";
import type { CountersStatus } from "./shared-counters.js";

export type Durability = "batched" | "sync";
export type Instant = number | Date;

export interface LimitrOptions {
  /**
   * Evaluate the policy's alert rules on live counters (default true when the
   * policy has rules that read entitlement figures). Firings are emitted as
   * `alert` events and queued in the store's outbox (kept in the process for
   * the memory store), delivered by `deliverAlerts` or `limitr alerts check`.
   */
  alerts?: boolean;
  /**
   * Deliver the outbox's notifications from this process, continuously: a
   * firing is sent at once (webhook, Slack; email with `email`), failures are
   * retried on an interval, and `close()` makes a last bounded pass. Off by
   * default (a scheduled `limitr alerts check` delivers instead); `limitr
   * serve` turns it on. Run it in one process per store: two deliverers may
   * send a notification twice (delivery is at-least-once across processes).
   *
   * @example
   * await Limitr.open({ policy: "./policies", deliverAlerts: { intervalMs: 1000 } });
   */
  deliverAlerts?: boolean | DeliverAlertsOptions;
  /**
   * How often (ms) to look for plan changes other processes recorded in the
   * store, such as `limitr customers set` while this engine runs (default
   * 1000; 0 = never). SQLite: one pragma read when nothing changed.
   * Postgres: one indexed query each time; a change made by another
   * instance is seen within about two intervals.
   */
  planPollMs?: number;
  /**
   * A policy directory, a bundle `.json` file (`{ manifest, policy }`), a
   * compiled policy / bundle object, or a bundle store to load and poll
   * (`{ store, env, publicKeys, pollMs, cacheDir }`, see `BundleStoreInput`).
   */
  policy: PolicyInput;
  /**
   * `"memory"`, `"sqlite:PATH"` (default `sqlite:.limitr/usage.db`),
   * `"postgres://HOST/DB[?schema=NAME]"` (the shared store of many instances,
   * SPEC §11: written behind in the background, see docs/scale.md), or a
   * store instance.
   */
  store?: string | EngineStore;
  /**
   * Postgres store: events handed to the background writer and not yet
   * committed, at most (default 1,000,000). When Postgres stays unreachable
   * long enough to fill it, counted calls are refused with `store_backlog`
   * until it drains; `record` and `settle` still count (the work was done).
   */
  maxBufferedEvents?: number;
  /**
   * Postgres store: this engine is the only one on it (a session advisory
   * lock; a second exclusive engine, or a shared one, is refused while it is
   * open). Its counters, spend caps and wallets are then the truth, as with
   * SQLite, so it needs no `counters`. Default false: any number of engines
   * share the store: hard limits are leased from `counters` or, without it,
   * from the store's rows; spend caps need `counters` (leased from Redis), and
   * wallets are leased from the store itself (docs/scale.md).
   */
  exclusive?: boolean;
  /** Postgres store: how long `flush()` and `close()` wait for the buffer to be committed (ms, default 30,000). */
  drainTimeoutMs?: number;
  /** `batched` (default): write-behind in bounded batches. `sync`: every counted decision is committed before it returns. */
  durability?: Durability;
  batch?: { maxEvents?: number; maxDelayMs?: number };
  /** Clock used when a call passes no `now` (default `Date.now`). */
  now?: () => Instant;
  /** How many recent event ids are remembered for idempotency (R13); default 100,000. */
  idempotencyWindow?: number;
  /**
   * The SQLite store's owner lease in ms (default 30,000): renewed every
   * third of it; another engine may take the store over from one that went
   * this long without renewing (paused, blocked), which is then refused
   * decisions (`store_lease_lost`) until it takes the store back.
   */
  storeLeaseMs?: number;
  /**
   * `redis://host:port/db`: live counters shared by every engine opened on
   * it (SPEC §11, R16). Hard limits are decided from quota leases taken from
   * Redis (never exceeded across engines; `lease_pending` while a slice is
   * fetched, see `allowAsync`), and every counter's total is kept there, so
   * `used` includes other engines' usage after a sync (every tick, and `flush()`).
   */
  counters?: string;
  /** Key prefix in Redis (default `limitr:`): engines that share limits use the same one. */
  countersPrefix?: string;
  /**
   * `counters` is a node of a Redis Cluster: open a cluster client seeded
   * with it, and split batched script calls by hash slot (every key one
   * script touches shares a hash tag). Default false: a single server (or a
   * primary with replicas). See docs/scale.md, "Redis Cluster".
   */
  countersCluster?: boolean;
  /** Lease tuning (slice sizes, TTL; defaults differ for Redis and for Postgres rows, see docs/scale.md). */
  lease?: Partial<LeaseParams>;
  /**
   * How often this engine adds what it counted to the shared totals and
   * reads the other engines' (with `counters`, or on a shared Postgres
   * store), in ms. Default: every tick of the shared counters (`lease.ttlMs
   * / 8`, at most 1 s). Each sync writes one total per counter that changed,
   * so a longer interval cuts that load on Redis or Postgres in proportion;
   * other engines' usage then shows in `usage()`, decisions' `used` and
   * alerts up to this much later. Hard limits are decided from leases, never
   * from totals: no interval lets them be exceeded. `flush()` syncs at once.
   */
  countersSyncMs?: number;
  /**
   * Shared Postgres store: how wallets' funds are leased to this engine
   * (`ttlMs`, default 10,000; `minSlice`, the smallest slice in the wallet's
   * unit, default "0.01"). See docs/scale.md, "Wallets and spend caps across engines".
   */
  walletLease?: { ttlMs?: number; minSlice?: string };
  /**
   * @internal An engine opened by a CLI command that reads or changes wallets
   * and makes no decisions (`limitr balances --db postgres://`): a shared
   * store's checks for hard limits and caps without `counters` are skipped.
   */
  tool?: boolean;
}

export interface CallOptions {
  properties?: Record<string, PropertyValue>;
  /** Idempotency key: a call with an id already counted counts nothing (R13). */
  id?: string;
  now?: Instant;
}

/** A usage event for `record` (SPEC §6). */
export interface UsageEventInput {
  id?: string;
  type: string;
  customer: string;
  /** ISO-8601 or epoch ms; default now. */
  timestamp?: string | number | Date;
  value?: number;
  properties?: Record<string, PropertyValue>;
}

export interface RecordResult {
  id: string;
  /** The id was already recorded: nothing was counted again (R13). */
  duplicate: boolean;
  /** Each entitlement the event counted toward, with its counter after the event. */
  counted: { entitlement: string; amount: number; used: number; limit: number | null; overage: number }[];
  version: number;
  digest: string;
}

export interface EngineStatus {
  activeVersion: number;
  activeDigest: string;
  /**
   * Where the active policy came from: `store` (fetched from the bundle store),
   * `cache` (the persisted last-good bundle: the store was unreachable or
   * offered nothing better at open), `directory`, `file` or `object`.
   */
  source: PolicySourceKind;
  /** Last time the bundle store was polled (epoch ms); null without a store. */
  lastCheckAt: number | null;
  /** Last poll that found the store's current bundle active (a 304, the same bundle, or an activation). */
  lastSuccessAt: number | null;
  /** Why the last poll failed or its bundle was rejected; null once a poll succeeds. */
  policyError: string | null;
  store: string;
  durability: Durability;
  /** Events buffered and not yet written (with a Postgres store: including those its writer still holds). */
  pendingEvents: number;
  lastFlushAt: number | null;
  /** A background-writing store (Postgres): reachability and its write buffer; null for memory and SQLite. */
  storeHealth: StoreHealth | null;
  /** The store's owner lease: `held`, `lost` (another engine took the store over; decisions are refused), null without one. */
  storeLease: "held" | "lost" | null;
  /** The outbox as `deliverAlerts` sees it (waiting, sent and failed since open); null without it. */
  alertDelivery: DeliveryStatus | null;
  /** The shared counters (`counters`): reachability and leases held; null without them. */
  counters: CountersStatus | null;
  /** The first of: a lost store lease, a failed write, `policyError`, an exception thrown by an event handler. */
  lastError: string | null;
}

/** The engine clock: `options.now`, else `Date.now`. */
export function clockOf(options: Pick<LimitrOptions, "now">): () => number {
  const now = options.now;
  return now ? () => toMs(now()) : Date.now;
}

function toMs(t: Instant): number {
  return typeof t === "number" ? t : t.getTime();
}

export type { PolicySourceKind };
