import type pg from "pg";
import { encodeAddOns, withAddOns } from "../../../core/add-ons.js";
import { LimitrError } from "../../../core/errors.js";
import type { CompiledMeter, CompiledPolicy } from "../../../core/model.js";
import { type Decimal, decStr } from "../../../core/money.js";
import type { Window } from "../../../core/periods.js";
import type { ActivationRow } from "../../../core/rating/pricing-timeline.js";
import type { WalletActivity } from "../../../core/rating/wallet-lines.js";
import type { UsageEvent } from "../../../core/usage/event.js";
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
} from "../../../core/usage/store-port.js";
import type { WalletRow } from "../../../core/wallet/store-rows.js";
import { type DailyData, dayStarts, usageFrom } from "../bill-usage.js";
import { activityOf, type WalletTxLine, type WalletUnit } from "../bill-wallets.js";
import { foldLedger, type LedgerRow } from "../credit-ledger.js";
import type { OpenOptions } from "../database.js";
import { aggregateMeter, dailyData, firstEvents, hasEventsIn } from "./aggregate.js";
import { PgAlertStore } from "./alerts.js";
import { createPool, storeError } from "./connection.js";
import { copyBatch } from "./copy-import.js";
import { countEvents, eventsInOrder } from "./event-stream.js";
import {
  allLayouts,
  type Layout,
  LayoutReader,
  latestPerType,
  layoutSpecs,
  registerLayouts,
} from "./layouts.js";
import { migrate } from "./migrations.js";
import {
  dayAligned,
  ensureRollups,
  policyRollups,
  type Rollup,
  rolledUp,
  rollupAggregate,
  rollupDays,
  rollupOf,
} from "./rollups.js";
import { type PgLocation, parseLocation } from "./url.js";

/**
 * The usage store in Postgres, shared by every instance and command that
 * opens the same URL. Imports COPY each batch into a staging table and
 * insert from it with ON CONFLICT DO NOTHING (R13, `copy-import.ts`),
 * extracting the values the policy's meters read into typed columns
 * (`layouts.ts`) and folding them into the registered rollups
 * (`rollups.ts`); `bill` and day-aligned queries read the rollups, anything
 * else is a GROUP BY over the events (`aggregate.ts`).
 */
export class PgUsageStore implements UsageStore {
  readonly kind = "postgres" as const;
  readonly name: string;
  private outbox: PgAlertStore | null = null;
  private importer: pg.PoolClient | null = null;
  /** What an import extracts, per event type (null: not decided yet). */
  private importLayouts: Layout[] | null = null;
  private layoutReader: Promise<LayoutReader> | null = null;
  /**
   * Read rollups where they answer exactly (false: always aggregate the
   * events, as with LIMITR_PG_ROLLUPS=off).
   */
  useRollups = process.env.LIMITR_PG_ROLLUPS !== "off";

  constructor(
    readonly pool: pg.Pool,
    readonly location: PgLocation,
  ) {
    this.name = location.display;
  }

  async insertEvents(batch: UsageEvent[]): Promise<number> {
    if (batch.length === 0) return 0;
    // One connection for the whole import: its staging table is created once per session.
    this.importer ??= await this.pool.connect();
    // Without a policy, an import extracts what the last import with one did.
    this.importLayouts ??= latestPerType(await allLayouts(this.importer));
    return copyBatch(this.importer, batch, this.importLayouts);
  }

  /**
   * Extract the values the policy's meters read at import, and register
   * their rollups so the import folds into them (call before `insertEvents`).
   */
  async extractFor(policy: CompiledPolicy): Promise<void> {
    this.importLayouts = await registerLayouts(this.pool, layoutSpecs(policy));
    this.layoutReader = null;
    if (this.useRollups) await this.ensure(policyRollups(policy));
  }

  /**
   * How reads find extracted values: the layouts when first asked (read once
   * per store; rows of layouts another process adds later are read from the JSON).
   */
  private reader(): Promise<LayoutReader> {
    this.layoutReader ??= allLayouts(this.pool).then((l) => new LayoutReader(l));
    this.layoutReader.catch(() => {
      this.layoutReader = null;
    });
    return this.layoutReader;
  }

  hasEventsIn(window: Window): Promise<boolean> {
    return hasEventsIn(this.pool, window);
  }

  async setPlans(
    rows: SubscriptionRow[],
    recordedAt: number,
    stripe: [string, string][] = [],
  ): Promise<void> {
    await this.transaction(async (c) => {
      // Later rows for the same (customer, time) win, as the SQLite store's INSERT OR REPLACE in order.
      for (const r of rows) {
        await c.query(
          `INSERT INTO subscriptions (customer, effective_at, plan, recorded_at, add_ons) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer, effective_at) DO UPDATE
             SET plan = excluded.plan, recorded_at = excluded.recorded_at, add_ons = excluded.add_ons`,
          [r.customer, r.at, r.plan, recordedAt, encodeAddOns(r.addOns ?? [])],
        );
      }
      for (const [customer, id] of stripe) {
        await c.query(
          `INSERT INTO stripe_customers (customer, stripe_id) VALUES ($1, $2)
           ON CONFLICT (customer) DO UPDATE SET stripe_id = excluded.stripe_id`,
          [customer, id],
        );
      }
    });
  }

  async planHistory(): Promise<Map<string, SubscriptionRow[]>> {
    const r = await this.pool.query<Omit<SubscriptionRow, "addOns"> & { add_ons: string }>(
      `SELECT customer, effective_at AS at, plan, add_ons FROM subscriptions ORDER BY customer COLLATE "C", effective_at`,
    );
    const out = new Map<string, SubscriptionRow[]>();
    for (const { add_ons, ...row } of r.rows) {
      const list = out.get(row.customer) ?? [];
      list.push(withAddOns({ ...row, addOns: add_ons }));
      out.set(row.customer, list);
    }
    return out;
  }

  async stripeCustomers(): Promise<Map<string, string>> {
    const r = await this.pool.query<{ customer: string; stripe_id: string }>(
      "SELECT customer, stripe_id FROM stripe_customers",
    );
    return new Map(r.rows.map((row) => [row.customer, row.stripe_id]));
  }

  async setCurrencies(rows: [string, string][]): Promise<void> {
    await this.transaction(async (c) => {
      for (const [customer, currency] of rows)
        await c.query(
          `INSERT INTO customer_currencies (customer, currency) VALUES ($1, $2)
           ON CONFLICT (customer) DO UPDATE SET currency = excluded.currency`,
          [customer, currency],
        );
    });
  }

  /** The period's wallet activity per customer for `bill` (R19), as the SQLite store gives it. */
  async walletActivity(policy: CompiledPolicy, period: Window): Promise<Map<string, WalletActivity>> {
    const wallets = await this.pool.query<WalletUnit>("SELECT customer, unit FROM wallets");
    if (!wallets.rows.some((w) => w.unit.toUpperCase() === policy.currency)) return new Map();
    const rows = await this.pool.query<WalletTxLine>(
      `SELECT id, customer, kind, amount, entitlement FROM wallet_transactions
        WHERE at >= $1 AND at < $2 AND kind IN ('credit', 'debit') ORDER BY seq`,
      [period.start, period.end],
    );
    return activityOf(wallets.rows, rows.rows, policy);
  }

  /** The wallets an engine on this store keeps (SPEC §12), as they were last written. */
  async wallets(): Promise<WalletRow[]> {
    const r = await this.pool.query<Omit<WalletRow, "lots" | "holds"> & { lots: string; holds: string }>(
      `SELECT customer, unit, opened_at::float8 AS "openedAt", next_grant_at::float8 AS "nextGrantAt", balance, lots, holds
       FROM wallets ORDER BY customer`,
    );
    return r.rows.map((w) => ({ ...w, lots: JSON.parse(w.lots), holds: JSON.parse(w.holds) }));
  }

  async customerCurrencies(): Promise<Map<string, string>> {
    const r = await this.pool.query<{ customer: string; currency: string }>(
      "SELECT customer, currency FROM customer_currencies",
    );
    return new Map(r.rows.map((row) => [row.customer, row.currency]));
  }

  async aggregateMeter(spec: AggregateSpec): Promise<AggregateRow[]> {
    if (this.useRollups && spec.zone && rolledUp(spec.meter)) {
      const zone = spec.zone;
      // Registered, then read in a snapshot that still has it (a rebuild may drop it in between).
      for (let attempt = 0; attempt < 2 && (await this.ensure([rollupOf(spec.meter, zone)])); attempt++) {
        const rows = await rollupAggregate(this.pool, spec, zone);
        if (rows) return rows;
      }
    }
    return aggregateMeter(this.pool, await this.reader(), spec);
  }

  async dailyUsage(
    policy: CompiledPolicy,
    period: Window,
    onProgress?: (daysDone: number, days: number) => void,
  ): Promise<DailyUsage> {
    const data = await this.dailyCells(policy, period);
    const days = dayStarts(period, policy.timezone).length;
    onProgress?.(days, days);
    return usageFrom(policy, period, data);
  }

  /**
   * Every meter's daily cells: from the rollups when the period is whole days
   * of the policy timezone (time_weighted meters and any other period from
   * the events).
   */
  private async dailyCells(policy: CompiledPolicy, period: Window): Promise<DailyData> {
    const read = await this.reader();
    const meters = Object.values(policy.meters);
    const rolled = meters.filter(rolledUp);
    const days = dayStarts(period, policy.timezone);
    let data: DailyData | null = null;
    if (this.useRollups && rolled.length > 0 && days.length > 0 && dayAligned(period, policy.timezone)) {
      // Read; if one is not registered (first use, or dropped by a rebuild), register it and read again.
      data = await rollupDays(this.pool, rolled, policy.timezone, days);
      if (!data && (await this.ensure(policyRollups(policy))))
        data = await rollupDays(this.pool, rolled, policy.timezone, days);
    }
    if (!data) return dailyData(this.pool, read, policy, period);
    const rest = meters.filter((m) => !rolledUp(m));
    if (rest.length > 0) {
      const only = { ...policy, meters: Object.fromEntries(rest.map((m) => [m.id, m])) };
      for (const [id, cells] of await dailyData(this.pool, read, only, period)) data.set(id, cells);
    }
    return data;
  }

  /**
   * Register and build the rollups not known yet; false when this role may
   * not (a read-only role or transaction): the caller reads the events.
   */
  private async ensure(rollups: Rollup[]): Promise<boolean> {
    try {
      await ensureRollups(this.pool, rollups);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "42501" || code === "25006") return false;
      throw err;
    }
  }

  /**
   * Build the rollups of the policy's meters again from the events (after
   * events were deleted, archived or restored outside limitr) and drop every
   * other rollup (older policies', which every write would otherwise keep
   * folding into; a read under one builds it again). Returns how many were built.
   */
  async rebuildRollups(policy: CompiledPolicy): Promise<RollupRebuild> {
    const rollups = policyRollups(policy);
    await ensureRollups(this.pool, rollups, "rebuild");
    const events = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM events");
    return {
      rollups: new Set(rollups.map((r) => r.fp)).size,
      meters: rollups.length,
      events: Number(events.rows[0]?.n ?? 0),
    };
  }

  async firstEvents(meter: CompiledMeter, period: Window, days: number[], n: number): Promise<FirstEvents> {
    return firstEvents(this.pool, await this.reader(), meter, period, days, n);
  }

  async creditsConsumedBefore(before: number): Promise<Map<string, Map<string, Decimal>>> {
    const r = await this.pool.query<LedgerRow>(
      "SELECT customer, credit_id, amount FROM credit_ledger WHERE period_start < $1",
      [before],
    );
    return foldLedger(r.rows);
  }

  async recordCredits(period: Window, invoices: CreditRecord[]): Promise<void> {
    await this.transaction(async (c) => {
      for (const inv of invoices) {
        await c.query("DELETE FROM credit_ledger WHERE customer = $1 AND period_start = $2", [
          inv.customer,
          period.start,
        ]);
        for (const u of inv.creditUses) {
          await c.query(
            "INSERT INTO credit_ledger (customer, credit_id, period_start, period_end, invoice, amount) VALUES ($1, $2, $3, $4, $5, $6)",
            [inv.customer, u.id, period.start, period.end, inv.number, decStr(u.amount)],
          );
        }
      }
    });
  }

  async stripeInvoice(number: string): Promise<StripePushState | undefined> {
    const r = await this.pool.query<StripePushState>(
      "SELECT content_hash, stripe_invoice, items_done, finalized FROM stripe_invoices WHERE number = $1",
      [number],
    );
    return r.rows[0];
  }

  async saveStripeInvoice(number: string, s: StripePushState): Promise<void> {
    await this.pool.query(
      `INSERT INTO stripe_invoices (number, content_hash, stripe_invoice, items_done, finalized) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (number) DO UPDATE SET content_hash = excluded.content_hash, stripe_invoice = excluded.stripe_invoice,
         items_done = excluded.items_done, finalized = excluded.finalized`,
      [number, s.content_hash, s.stripe_invoice, s.items_done, s.finalized],
    );
  }

  async bundleActivations(): Promise<ActivationRow[]> {
    const r = await this.pool.query<{ at: string; version: number; digest: string; source: string }>(
      "SELECT activated_at AS at, version, digest, source FROM bundle_activations ORDER BY seq",
    );
    return r.rows.map((row) => ({ ...row, at: Number(row.at) }));
  }

  async maxEventSeq(): Promise<number> {
    const r = await this.pool.query<{ max: string | null }>("SELECT MAX(seq) AS max FROM events");
    return Number(r.rows[0]?.max ?? 0);
  }

  async pushedInvoices(period: Window): Promise<PushedInvoice[]> {
    const r = await this.pool.query<Record<string, string>>(
      `SELECT number, adjusts, customer, period_start, period_end, through_seq, invoice, pushed_at
       FROM pushed_invoices WHERE period_start = $1 AND period_end = $2 ORDER BY pushed_at, number`,
      [period.start, period.end],
    );
    return r.rows.map((row) => ({
      number: row.number as string,
      adjusts: row.adjusts as string,
      customer: row.customer as string,
      periodStart: Number(row.period_start),
      periodEnd: Number(row.period_end),
      throughSeq: Number(row.through_seq),
      invoice: row.invoice as string,
      pushedAt: Number(row.pushed_at),
    }));
  }

  async recordPushedInvoice(p: PushedInvoice): Promise<void> {
    await this.pool.query(
      `INSERT INTO pushed_invoices (number, adjusts, customer, period_start, period_end, through_seq, invoice, pushed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (number) DO NOTHING`,
      [p.number, p.adjusts, p.customer, p.periodStart, p.periodEnd, p.throughSeq, p.invoice, p.pushedAt],
    );
  }

  async lateEvents(afterSeq: number): Promise<LateEvents[]> {
    const r = await this.pool.query<{
      period_start: string;
      period_end: string;
      customer: string;
      events: string;
    }>(
      `SELECT p.period_start, p.period_end, e.customer, COUNT(*) AS events
       FROM (SELECT period_start, period_end, MIN(through_seq) AS through
             FROM pushed_invoices GROUP BY period_start, period_end) p
       JOIN events e ON e.ts >= p.period_start AND e.ts < p.period_end AND e.seq > p.through
       WHERE e.seq > $1
       GROUP BY p.period_start, p.period_end, e.customer ORDER BY p.period_start, p.period_end, e.customer`,
      [afterSeq],
    );
    return r.rows.map((row) => ({
      periodStart: Number(row.period_start),
      periodEnd: Number(row.period_end),
      customer: row.customer,
      events: Number(row.events),
    }));
  }

  eventsInOrder(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): AsyncIterable<StreamedEvent[]> {
    return eventsInOrder(this.pool, types, start, end, skip);
  }

  countEvents(
    types: readonly string[],
    start: number,
    end: number,
    skip?: ReadonlyMap<string, readonly string[]>,
  ): Promise<number> {
    return countEvents(this.pool, types, start, end, skip);
  }

  alerts(): PgAlertStore {
    this.outbox ??= new PgAlertStore(this.pool);
    return this.outbox;
  }

  async close(): Promise<void> {
    this.importer?.release();
    this.importer = null;
    await this.pool.end();
  }

  private async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await work(client);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}

/**
 * Connect, check the schema (a reader refuses a database no limitr wrote)
 * and migrate it when opened by a writer. Connection and server errors name
 * the URL without its password.
 */
export async function openPostgresStore(url: string, options: OpenOptions = {}): Promise<PgUsageStore> {
  const location = parseLocation(url);
  const pool = createPool(location);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw storeError(location.display, err, "connect to");
  }
  try {
    await migrate(client, location, {
      create: (options.create ?? false) && !options.readonly,
      readonly: options.readonly ?? false,
    });
  } catch (err) {
    client.release();
    await pool.end().catch(() => {});
    if (err instanceof LimitrError) throw err;
    throw storeError(location.display, err);
  }
  client.release();
  return new PgUsageStore(pool, location);
}
