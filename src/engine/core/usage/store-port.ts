import type { AlertState } from "../alerts/rules.js";
import type { CompiledMeter, CompiledPolicy } from "../model.js";
import type { Decimal } from "../money.js";
import type { Window } from "../periods.js";
import type { CreditUse } from "../rating/credits.js";
import type { UsageAmount, UsageWindow } from "../rating/invoice.js";
import type { ActivationRow } from "../rating/pricing-timeline.js";
import type { UsageEvent } from "./event.js";

/**
 * The usage store as the CLI's commands see it: recorded events, plan
 * history, credit and Stripe bookkeeping, and the aggregations `bill`,
 * `simulate`, `usage query` and `alerts check` read. The embedded SQLite file
 * and the shared Postgres database implement it; each aggregates where its
 * data lives (SQL, or a single pass inside SQLite), so no command streams
 * every event into memory to total it.
 */
export interface UsageStore {
  /** What to call the store in messages: a file path, or a URL without its password. */
  readonly name: string;
  readonly kind: "sqlite" | "postgres";

  /** Insert a batch idempotently (R13: a known id is skipped); returns how many ids were new. */
  insertEvents(batch: UsageEvent[]): Promise<number>;
  /**
   * Prepare imports to store the values the policy's meters read beside each
   * event (Postgres: typed columns, so bills need not parse JSON). Optional;
   * reads are the same with or without it, for events imported before too.
   */
  extractFor?(policy: CompiledPolicy): Promise<void>;
  /** Does the store hold any event with start <= ts < end? */
  hasEventsIn(window: Window): Promise<boolean>;

  /** Record plan changes and Stripe customer ids in one transaction. */
  setPlans(rows: SubscriptionRow[], recordedAt: number, stripe?: [string, string][]): Promise<void>;
  /** Every customer's plan history, oldest first. */
  planHistory(): Promise<Map<string, SubscriptionRow[]>>;
  stripeCustomers(): Promise<Map<string, string>>;
  /** Record the currency self-serve customers are invoiced in (ISO 4217, upper case): [customer, currency]. */
  setCurrencies(rows: [string, string][]): Promise<void>;
  /** Customer -> currency recorded by `setCurrencies` (a contract's `currency` wins over it). */
  customerCurrencies(): Promise<Map<string, string>>;

  /** One meter's events in a window, grouped by customer (and bucket, dimension). */
  aggregateMeter(spec: AggregateSpec): Promise<AggregateRow[]>;
  /** Every meter's usage per (customer, day) in the period, for rating (see `DailyUsage`). */
  dailyUsage(
    policy: CompiledPolicy,
    period: Window,
    onProgress?: (daysDone: number, days: number) => void,
  ): Promise<DailyUsage>;
  /**
   * Drop the store's usage rollups and build those of the policy's meters
   * from every stored event (`limitr usage rebuild-rollups`). Optional: a
   * store without rollups lacks it. `onProgress` gets events folded so far.
   */
  rebuildRollups?(
    policy: CompiledPolicy,
    onProgress?: (done: number, total: number) => void,
  ): Promise<RollupRebuild>;
  /**
   * The first `n` events of every (customer, day) of the period, by (ts, id): percentage `free_events`.
   * `days` are the day starts of `zone` (the first may be the period's start); a store with rollups reads
   * whole days of the zone from them.
   */
  firstEvents(
    meter: CompiledMeter,
    period: Window,
    days: number[],
    n: number,
    zone?: string,
  ): Promise<FirstEvents>;

  /** Credit consumed per customer and grant by invoices of periods before `before` (R12). */
  creditsConsumedBefore(before: number): Promise<Map<string, Map<string, Decimal>>>;
  /** Replace the period's credit rows of each invoice's customer. */
  recordCredits(period: Window, invoices: CreditRecord[]): Promise<void>;

  stripeInvoice(number: string): Promise<StripePushState | undefined>;
  saveStripeInvoice(number: string, state: StripePushState): Promise<void>;

  /** The policies engines activated on this store, in the order recorded (R14; `bill` prices by them). */
  bundleActivations(): Promise<ActivationRow[]>;
  /** The largest event sequence number (0 when empty): events after it were recorded later. */
  maxEventSeq(): Promise<number>;
  /** Invoices (and adjustment invoices) pushed to Stripe for exactly this period, oldest first. */
  pushedInvoices(period: Window): Promise<PushedInvoice[]>;
  /** Keep what was pushed (the first record of a number stays: it is what Stripe holds). */
  recordPushedInvoice(row: PushedInvoice): Promise<void>;
  /**
   * Events recorded after an invoice of their period was pushed (`seq` past
   * the push's `throughSeq`), counted per pushed period and customer; only events with
   * seq > `afterSeq` (0 = all).
   */
  lateEvents(afterSeq: number): Promise<LateEvents[]>;

  /** Stored events of `types` in [start, end), in (ts, seq) order, in batches. */
  eventsInOrder(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): AsyncIterable<StreamedEvent[]>;
  countEvents(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): Promise<number>;

  /** Alert state and the delivery outbox in this store. */
  alerts(): AlertOutbox;
  close(): Promise<void>;
}

export type { ActivationRow };

export interface RollupRebuild {
  /** Rollups built (meters with the same definition share one). */
  rollups: number;
  /** Meters of the policy read from them (time_weighted meters are always scanned). */
  meters: number;
  /** Events folded into them. */
  events: number;
}

/** An invoice as pushed to Stripe: never changed afterwards; later usage becomes an adjustment invoice. */
export interface PushedInvoice {
  number: string;
  /** The invoice it adjusts; its own number for an original. */
  adjusts: string;
  customer: string;
  periodStart: number;
  periodEnd: number;
  /** The store's largest event seq when the invoice was rated. */
  throughSeq: number;
  /** The invoice as pushed (`invoiceJson`), as JSON text. */
  invoice: string;
  pushedAt: number;
}

export interface LateEvents {
  periodStart: number;
  periodEnd: number;
  customer: string;
  events: number;
}

export interface SubscriptionRow {
  customer: string;
  at: number;
  plan: string;
  /** Add-on plans held with `plan` from `at` on (SPEC §15), sorted; absent or empty = none. */
  addOns?: string[];
}

/** How a meter's rows are split: by customer always, optionally by a time bucket and one property. */
export interface AggregateSpec {
  meter: CompiledMeter;
  window: Window;
  /** Sorted bucket start times; rows are split by the bucket their timestamp falls in. */
  buckets?: number[];
  /** Property to split by (a `group_by` dimension or the cost dimension). */
  dimension?: string | null;
  customers?: string[];
  /** For unique_count: return the distinct values themselves (to merge across buckets) instead of their count. */
  distinctValues?: boolean;
  /**
   * The policy timezone: a store keeping daily rollups in it answers from them
   * when the window and buckets are whole days there (else it scans events).
   */
  zone?: string;
}

export interface AggregateRow {
  customer: string;
  bucket: number;
  dim: string | number | null;
  /** sum / count / max / latest value, distinct count, or (distinctValues) the value. */
  q: number | null;
  n: number;
  t: number;
}

export interface DailyUsage {
  /** Customers with at least one event counted by some meter in the period. */
  customers: Set<string>;
  lookup: (w: UsageWindow) => UsageAmount;
}

/** One of the first events of a (customer, day). */
export interface Lead {
  ts: number;
  id: string;
  v: number;
}

/** Per customer, per day index of the period: its first events. */
export type FirstEvents = Map<string, Lead[][]>;

export interface CreditRecord {
  customer: string;
  number: string;
  creditUses: CreditUse[];
}

export interface StripePushState {
  content_hash: string;
  stripe_invoice: string;
  items_done: number;
  finalized: number;
}

/** One stored event as the replay needs it; `properties` is the raw JSON text (parsed once, by the caller). */
export interface StreamedEvent {
  seq: number;
  type: string;
  customer: string;
  ts: number;
  value: number | null;
  properties: string | null;
}

export interface AlertStateKey {
  alert: string;
  customer: string;
  entitlement: string;
  periodStart: number;
}

export interface PendingDelivery<N = unknown> {
  note: N;
  channel: string;
  attempts: number;
  /** When an earlier run started sending it without recording the outcome (it stopped mid-send); null otherwise. */
  unconfirmedSince: number | null;
}

/**
 * Alert state and outbox. The SQLite store answers synchronously (the
 * engine's live alerts need that), the shared store asynchronously; callers
 * outside the engine await every answer.
 */
export interface AlertOutbox<N extends { id: string } = { id: string }> {
  state(key: AlertStateKey): AlertState | Promise<AlertState>;
  record(
    key: AlertStateKey,
    state: AlertState,
    note: N | null,
    channels: string[],
    now: number,
  ): void | Promise<void>;
  pending(now: number): PendingDelivery<N>[] | Promise<PendingDelivery<N>[]>;
  sending(id: string, channel: string, now: number): void | Promise<void>;
  delivered(id: string, channel: string, attempts: number, now: number): void | Promise<void>;
  retryLater(
    id: string,
    channel: string,
    attempts: number,
    nextAttemptAt: number,
    error: string,
  ): void | Promise<void>;
}
