import { ratingMeters } from "../../core/credits/rating.js";
import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import type { Decimal } from "../../core/money.js";
import type { Window } from "../../core/periods.js";
import type { ActivationRow } from "../../core/rating/pricing-timeline.js";
import type { UsageEvent } from "../../core/usage/event.js";
import { meterFingerprint, rollable } from "../../core/usage/rollup-key.js";
import type {
  AggregateRow,
  AggregateSpec,
  CreditRecord,
  DailyUsage,
  FirstEvents,
  LateEvents,
  PushedInvoice,
  RollupRebuild,
  StreamedEvent,
  StripePushState,
  SubscriptionRow,
  UsageStore,
} from "../../core/usage/store-port.js";
import { AlertStore } from "../alerts/outbox.js";
import { firstEventsPerDay } from "./bill-first-events.js";
import { dayStarts, loadDailyUsageParallel } from "./bill-usage.js";
import { consumedByCustomerBefore, recordCreditUse } from "./credit-ledger.js";
import type { Db } from "./database.js";
import { countEvents, eventsInOrder } from "./event-stream.js";
import {
  aggregateFromRollups,
  catchUp,
  dailyFromRollups,
  dropRollups,
  firstEventsWanted,
  firstsFromRollups,
  listRollups,
  RollupMaintainer,
  registerRollups,
} from "./rollups.js";
import {
  aggregateMeter,
  eventWriter,
  hasEventsIn,
  planHistory,
  setPlans,
  setStripeCustomer,
  stripeCustomers,
} from "./usage-store.js";
import { WalCheckpointer } from "./wal-checkpointer.js";

/** Events handed to a caller at once by `eventsInOrder`: amortises the async step per event. */
const STREAM_BATCH = 2048;

/**
 * Events inserted through one store before its checkpoints move to another
 * thread (`WalCheckpointer`): below this, starting the thread costs more than it saves.
 */
const CHECKPOINTER_MIN_ROWS = 50_000;

/**
 * The usage store port over a SQLite file: the synchronous functions of this
 * directory behind the asynchronous interface the shared store also has.
 */
export class SqliteUsageStore implements UsageStore {
  readonly kind = "sqlite" as const;
  readonly name: string;
  private writer: ((batch: UsageEvent[]) => number) | null = null;
  private written = 0;
  private checkpointer: WalCheckpointer | null = null;
  private outbox: AlertStore | null = null;

  /** Read usage from rollups (docs/billing.md "Rollups"); false: always scan events. */
  readonly rollups: boolean;

  constructor(
    readonly db: Db,
    options: { rollups?: boolean } = {},
  ) {
    this.name = db.name;
    this.rollups = options.rollups ?? process.env.LIMITR_ROLLUPS !== "off";
  }

  async insertEvents(batch: UsageEvent[]): Promise<number> {
    if (!this.writer) {
      // A larger page cache keeps the id/time index pages of a long import in memory.
      this.db.pragma("cache_size = -65536");
      // Registered rollups are kept up to date in each batch's transaction.
      this.writer = eventWriter(this.db, new RollupMaintainer(this.db));
    }
    const inserted = this.writer(batch);
    this.written += batch.length;
    if (this.checkpointer) this.checkpointer.committed();
    else if (this.written >= CHECKPOINTER_MIN_ROWS && this.written - batch.length < CHECKPOINTER_MIN_ROWS)
      this.checkpointer = WalCheckpointer.start(this.db);
    return inserted;
  }

  async hasEventsIn(window: Window): Promise<boolean> {
    return hasEventsIn(this.db, window);
  }

  async setPlans(
    rows: SubscriptionRow[],
    recordedAt: number,
    stripe: [string, string][] = [],
  ): Promise<void> {
    this.db.transaction(() => {
      setPlans(this.db, rows, recordedAt);
      for (const [c, s] of stripe) setStripeCustomer(this.db, c, s);
    })();
  }

  async planHistory(): Promise<Map<string, SubscriptionRow[]>> {
    return planHistory(this.db);
  }

  async stripeCustomers(): Promise<Map<string, string>> {
    return stripeCustomers(this.db);
  }

  async setCurrencies(rows: [string, string][]): Promise<void> {
    const put = this.db.prepare(
      "INSERT OR REPLACE INTO customer_currencies (customer, currency) VALUES (?, ?)",
    );
    this.db.transaction(() => {
      for (const [customer, currency] of rows) put.run(customer, currency);
    })();
  }

  async customerCurrencies(): Promise<Map<string, string>> {
    const rows = this.db.prepare("SELECT customer, currency FROM customer_currencies").all() as {
      customer: string;
      currency: string;
    }[];
    return new Map(rows.map((r) => [r.customer, r.currency]));
  }

  async aggregateMeter(spec: AggregateSpec): Promise<AggregateRow[]> {
    return (this.rollups ? aggregateFromRollups(this.db, spec) : null) ?? aggregateMeter(this.db, spec);
  }

  dailyUsage(
    policy: CompiledPolicy,
    period: Window,
    onProgress?: (daysDone: number, days: number) => void,
  ): Promise<DailyUsage> {
    const fromRollups = this.rollups ? dailyFromRollups(this.db, policy, period) : null;
    if (fromRollups) {
      const days = dayStarts(period, policy.timezone).length;
      onProgress?.(days, days);
      return Promise.resolve(fromRollups);
    }
    return loadDailyUsageParallel(this.db, this.db.name, policy, period, onProgress);
  }

  async rebuildRollups(
    policy: CompiledPolicy,
    onProgress?: (done: number, total: number) => void,
  ): Promise<RollupRebuild> {
    // First events kept per day: what the policy asks for, and no less than bills asked of the dropped rollups.
    const kept = new Map(listRollups(this.db).map((d) => [d.fp, d.firstN]));
    dropRollups(this.db);
    const meters = ratingMeters(policy).filter(rollable);
    const firstN = firstEventsWanted(policy);
    for (const m of meters) {
      const n = kept.get(meterFingerprint(m, policy.timezone)) ?? 0;
      if (n > (firstN.get(m.id) ?? 0)) firstN.set(m.id, n);
    }
    const fps = registerRollups(this.db, meters, policy.timezone, firstN);
    const events = catchUp(this.db, fps, onProgress);
    return { rollups: fps.length, meters: meters.length, events };
  }

  async firstEvents(
    meter: CompiledMeter,
    period: Window,
    days: number[],
    n: number,
    zone?: string,
  ): Promise<FirstEvents> {
    const rolled =
      this.rollups && zone !== undefined ? firstsFromRollups(this.db, meter, period, days, n, zone) : null;
    return rolled ?? firstEventsPerDay(this.db, meter, period, days, n);
  }

  async creditsConsumedBefore(before: number): Promise<Map<string, Map<string, Decimal>>> {
    return consumedByCustomerBefore(this.db, before);
  }

  async recordCredits(period: Window, invoices: CreditRecord[]): Promise<void> {
    this.db.transaction(() => {
      for (const inv of invoices) recordCreditUse(this.db, inv.customer, period, inv.number, inv.creditUses);
    })();
  }

  async stripeInvoice(number: string): Promise<StripePushState | undefined> {
    return this.db
      .prepare(
        "SELECT content_hash, stripe_invoice, items_done, finalized FROM stripe_invoices WHERE number = ?",
      )
      .get(number) as StripePushState | undefined;
  }

  async saveStripeInvoice(number: string, s: StripePushState): Promise<void> {
    this.db
      .prepare(
        "INSERT OR REPLACE INTO stripe_invoices (number, content_hash, stripe_invoice, items_done, finalized) VALUES (?, ?, ?, ?, ?)",
      )
      .run(number, s.content_hash, s.stripe_invoice, s.items_done, s.finalized);
  }

  async bundleActivations(): Promise<ActivationRow[]> {
    return this.db
      .prepare("SELECT activated_at AS at, version, digest, source FROM bundle_activations ORDER BY seq")
      .all() as ActivationRow[];
  }

  async maxEventSeq(): Promise<number> {
    return (this.db.prepare("SELECT MAX(seq) FROM events").pluck().get() as number | null) ?? 0;
  }

  async pushedInvoices(period: Window): Promise<PushedInvoice[]> {
    return this.db
      .prepare(
        `SELECT number, adjusts, customer, period_start AS periodStart, period_end AS periodEnd,
           through_seq AS throughSeq, invoice, pushed_at AS pushedAt
         FROM pushed_invoices WHERE period_start = ? AND period_end = ? ORDER BY pushed_at, number`,
      )
      .all(period.start, period.end) as PushedInvoice[];
  }

  async recordPushedInvoice(r: PushedInvoice): Promise<void> {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO pushed_invoices
           (number, adjusts, customer, period_start, period_end, through_seq, invoice, pushed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.number, r.adjusts, r.customer, r.periodStart, r.periodEnd, r.throughSeq, r.invoice, r.pushedAt);
  }

  async lateEvents(afterSeq: number): Promise<LateEvents[]> {
    return this.db
      .prepare(
        `SELECT p.period_start AS periodStart, p.period_end AS periodEnd, e.customer AS customer, COUNT(*) AS events
         FROM (SELECT period_start, period_end, MIN(through_seq) AS through
               FROM pushed_invoices GROUP BY period_start, period_end) p
         JOIN events e ON e.ts >= p.period_start AND e.ts < p.period_end AND e.seq > p.through
         WHERE e.seq > ?
         GROUP BY p.period_start, p.period_end, e.customer ORDER BY p.period_start, p.period_end, e.customer`,
      )
      .all(afterSeq) as LateEvents[];
  }

  async *eventsInOrder(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): AsyncIterable<StreamedEvent[]> {
    let batch: StreamedEvent[] = [];
    for (const e of eventsInOrder(this.db, types, start, end, skip)) {
      batch.push(e);
      if (batch.length === STREAM_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async countEvents(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): Promise<number> {
    return countEvents(this.db, types, start, end, skip);
  }

  alerts(): AlertStore {
    this.outbox ??= new AlertStore(this.db);
    return this.outbox;
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    this.db.close();
  }
}
