import { randomBytes } from "node:crypto";
import pg from "pg";
import { withAddOns } from "../../../core/add-ons.js";
import type {
  CounterRow,
  EngineStore,
  HoldRow,
  PolicyActivation,
  StoreHealth,
  SubscriptionRow,
  WriteBatch,
} from "../../../core/engine/store-port.js";
import { InputError, LimitrError } from "../../../core/errors.js";
import type { WalletTxKind } from "../../../core/wallet/model.js";
import type { WalletRow, WalletTxRow } from "../../../core/wallet/store-rows.js";
import { MemoryWallets } from "../memory-wallets.js";
import { storeError } from "./connection.js";
import { PgRows } from "./engine-rows.js";
import { writeRows } from "./engine-sql.js";

/** A plan-history row as the table holds it: the add-on set still encoded. */
type StoredSubscription = Omit<SubscriptionRow, "addOns"> & { addOns: string };

import { migrate } from "./migrations.js";
import { type PgLocation, parseLocation } from "./url.js";

/** How far before its previous look a plan poll reads (slow commits, clocks of two hosts). */
const CLOCK_SLACK_MS = 60_000;
/** Events per transaction when the writer catches up on a backlog. */
const MAX_TX_EVENTS = 20_000;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;
/** Tries (100 ms apart) to take the engine lock before an open is refused. */
const LOCK_TRIES = 10;

export interface PgEngineStoreOptions {
  /** Events buffered for Postgres at most (default 1,000,000): past it, `write` refuses the batch. */
  maxBufferedEvents?: number;
  /** How often to look for plan changes other instances recorded (ms; 0 = never). Default 1000. */
  planPollMs?: number;
  /** Recent event ids to load for idempotency (R13). */
  recentIds?: number;
  /** Ledger rows to keep in memory for `transactions()` (default 100,000). */
  retainLedger?: number;
  /**
   * This is the only engine on the store (a session advisory lock, held while
   * open): its own counters, caps and wallets are then the truth, as with
   * SQLite. Without it, any number of engines may open the store, each holding
   * the lock in shared mode, and an exclusive open is refused meanwhile.
   */
  exclusive?: boolean;
}

interface Snapshot {
  storeId: string;
  counters: CounterRow[];
  holds: HoldRow[];
  plans: SubscriptionRow[];
  currencies: [string, string][];
  ids: string[];
  wallets: WalletRow[];
  ledger: WalletTxRow[];
}

/**
 * The engine store in Postgres (SPEC §11). The engine decides from memory:
 * everything is read once at open, and `write` only copies a batch into a
 * bounded buffer that one background writer sends to Postgres, a transaction
 * per batch (or per several queued ones), retried with backoff until it
 * commits. Every statement is idempotent (events by id, ON CONFLICT DO
 * NOTHING), so a batch whose commit was lost with its connection is sent
 * again and counts once. Plan changes recorded by other instances are polled
 * every `planPollMs`.
 *
 * Several engines may open the same store at once (there is no owner lock):
 * hard limits across them are leased from the shared counters
 * (`counters: "redis://..."`) or, without them, from the store's lease rows
 * (`pg-leases.ts`), see `Limitr.open`.
 *
 * @example
 * const store = await PgEngineStore.open("postgres://db/app?schema=limitr");
 * const limitr = await Limitr.open({ policy, store, counters: "redis://cache:6379/0" });
 */
export class PgEngineStore implements EngineStore {
  readonly location: string;
  readonly storeId: string;
  readonly shared: boolean;
  /** The connection that holds the store's advisory lock (exclusive or shared) while the engine is open. */
  private lock: pg.Client | null = null;
  private lockError: string | null = null;
  private readonly queue: PgRows[] = [];
  private inflight: PgRows | null = null;
  private queuedEvents = 0;
  private writing = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly max: number;
  private reachable = true;
  private lastWriteAt: number | null = null;
  private lastError: string | null = null;
  private written = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly wallets: MemoryWallets;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  private lastLook = Date.now();
  private planChanges: SubscriptionRow[] = [];

  private constructor(
    private readonly pool: pg.Pool,
    readonly pg: PgLocation,
    private snapshot: Snapshot | null,
    options: PgEngineStoreOptions,
  ) {
    this.location = pg.display;
    this.shared = options.exclusive !== true;
    this.storeId = (snapshot as Snapshot).storeId;
    this.max = Math.max(1, options.maxBufferedEvents ?? 1_000_000);
    this.wallets = new MemoryWallets(options.retainLedger ?? 100_000);
    const s = snapshot as Snapshot;
    this.wallets.write({ transactions: s.ledger, wallets: s.wallets });
    const every = options.planPollMs ?? 1000;
    if (every > 0) this.pollTimer = setInterval(() => void this.pollPlans(), every).unref();
  }

  /** Connect, migrate (under the advisory lock of `migrate`) and read what the engine starts from. */
  static async open(url: string, options: PgEngineStoreOptions = {}): Promise<PgEngineStore> {
    const location = parseLocation(url);
    const config = {
      connectionString: location.connectionString,
      types: { getTypeParser: bigintAsNumber },
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
      connectionTimeoutMillis: 10_000,
    };
    const pool = new pg.Pool({ ...config, max: 3 });
    // A connection killed while idle is replaced on the next query; one killed while checked out
    // (between two statements, or after its failed query) fails that query. Neither may crash the process.
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    try {
      const client = await pool.connect().catch((err) => {
        throw storeError(location.display, err, "connect to");
      });
      try {
        await migrate(client, location, { create: true, readonly: false });
        const lock = await takeLock(config, location, options.exclusive === true);
        try {
          const snapshot = await load(client, options.recentIds ?? 100_000, options.retainLedger ?? 100_000);
          const store = new PgEngineStore(pool, location, snapshot, options);
          store.holdLock(lock);
          return store;
        } catch (err) {
          await lock.end().catch(() => {});
          throw err;
        }
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      if (err instanceof LimitrError) throw err;
      throw storeError(location.display, err, "open");
    }
  }

  private holdLock(lock: pg.Client): void {
    this.lock = lock;
    lock.on("error", (err) => {
      // An exclusive lock went with its connection: other engines may open the store from now on.
      if (!this.shared) this.lockError = `lost the exclusive engine lock on ${this.location}: ${err.message}`;
    });
  }

  loadCounters(): CounterRow[] {
    return this.snapshot?.counters ?? [];
  }
  loadHolds(): HoldRow[] {
    return this.snapshot?.holds ?? [];
  }
  loadPlanHistory(): SubscriptionRow[] {
    return this.snapshot?.plans ?? [];
  }
  loadCustomerCurrencies(): [string, string][] {
    return this.snapshot?.currencies ?? [];
  }
  recentEventIds(limit: number): string[] {
    const s = this.snapshot;
    if (s === null) return [];
    // Read once, at open: the bulk of the ids is not kept.
    const out = s.ids.slice(-limit);
    s.ids = [];
    return out;
  }

  loadWallets(): WalletRow[] {
    return this.wallets.loadWallets();
  }
  walletTransactions(customer: string, from: number, to: number): WalletTxRow[] {
    return this.wallets.walletTransactions(customer, from, to);
  }
  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[] {
    return this.wallets.walletActivity(from, to, kinds);
  }
  walletTransaction(customer: string, id: string): WalletTxRow | null {
    return this.wallets.walletTransaction(customer, id);
  }

  /**
   * Buffer a batch for Postgres; it is durable once `drain()` resolves. A
   * full buffer (Postgres unreachable for long) refuses the batch: the
   * engine keeps it and offers it again, and refuses new counted calls
   * meanwhile (`store_backlog`), so memory stays bounded and nothing is lost.
   */
  write(batch: WriteBatch): void {
    if (this.closed) throw new InputError(`store ${this.location} is closed`);
    if (this.full(batch.events.length)) {
      throw new InputError(
        `the write buffer for ${this.location} is full (${this.bufferedEvents} events not yet written: ${this.lastError ?? "Postgres is slow"}); the batch stays in the engine and is offered again`,
      );
    }
    const rows = PgRows.of(batch);
    if (batch.wallets !== undefined) this.wallets.write(batch.wallets);
    this.enqueue(rows);
  }

  /** Whether `extra` more events would pass the buffer's bound. */
  full(extra = 0): boolean {
    return this.bufferedEvents > 0 && this.bufferedEvents + extra > this.max;
  }

  recordActivation(a: PolicyActivation): void {
    if (this.closed) return;
    const rows = new PgRows();
    rows.activations.push({ ...a });
    this.enqueue(rows);
  }

  externalPlanChanges(): SubscriptionRow[] {
    const rows = this.planChanges;
    this.planChanges = [];
    return rows;
  }

  /** Events handed to `write` and not yet committed. */
  get bufferedEvents(): number {
    return this.queuedEvents + (this.inflight?.eventCount ?? 0);
  }

  health(): StoreHealth {
    return {
      reachable: this.reachable,
      bufferedEvents: this.bufferedEvents,
      bufferedBatches: this.queue.length + (this.inflight === null ? 0 : 1),
      maxBufferedEvents: this.max,
      writtenEvents: this.written,
      lastWriteAt: this.lastWriteAt,
      lastError: this.lockError ?? this.lastError,
    };
  }

  /**
   * Resolves when everything written so far is committed; rejects after
   * `timeoutMs` (the buffer is kept and retried).
   */
  drain(timeoutMs = 30_000): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new InputError(
            `store ${this.location}: ${this.bufferedEvents} events still buffered after ${timeoutMs} ms (${this.lastError ?? "writing"}); they are kept and retried`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      this.kick();
    });
  }

  /** Stop polling and writing and release the connections (what is still buffered is dropped: drain first). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    void this.pool.end().catch(() => {});
    void this.lock?.end().catch(() => {});
  }

  private get idle(): boolean {
    return this.inflight === null && this.queue.length === 0;
  }

  private enqueue(rows: PgRows): void {
    this.queue.push(rows);
    this.queuedEvents += rows.eventCount;
    this.kick();
  }

  /** Start the writer unless it runs or waits for its retry. */
  private kick(): void {
    if (this.writing || this.retryTimer !== null || this.closed) return;
    void this.pump();
  }

  /**
   * The writer: one transaction at a time, in order. The queued batches are
   * merged into one transaction (up to MAX_TX_EVENTS events); a failed one
   * is kept as it is and sent again after a backoff.
   */
  private async pump(): Promise<void> {
    this.writing = true;
    try {
      while (!this.closed) {
        if (this.inflight === null) {
          const first = this.queue.shift();
          if (first === undefined) break;
          this.queuedEvents -= first.eventCount;
          while (this.queue.length > 0) {
            const next = this.queue[0] as PgRows;
            if (first.eventCount + next.eventCount > MAX_TX_EVENTS) break;
            this.queue.shift();
            this.queuedEvents -= next.eventCount;
            first.merge(next);
          }
          this.inflight = first;
        }
        const rows = this.inflight;
        try {
          await this.send(rows);
        } catch (err) {
          this.failed(err);
          return;
        }
        this.inflight = null;
        this.written += rows.eventCount;
        this.lastWriteAt = Date.now();
        this.reachable = true;
        this.lastError = null;
        this.retryMs = RETRY_MIN_MS;
      }
      if (this.idle) for (const w of this.waiters.splice(0)) w();
    } finally {
      this.writing = false;
    }
  }

  private async send(rows: PgRows): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await writeRows(client, rows);
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      // A connection that failed mid-transaction is discarded, never reused.
      client.release(broken);
    }
  }

  private failed(err: unknown): void {
    this.reachable = false;
    const e = err as { message?: string; code?: string };
    this.lastError = `cannot write to ${this.location}: ${e.message || e.code || String(err)}`;
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    // Unref'd: a process that ends while Postgres is down does not wait for it (drain() first).
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, wait).unref();
  }

  private async pollPlans(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    const since = this.lastLook - CLOCK_SLACK_MS;
    const at = Date.now();
    try {
      const r = await this.pool.query<StoredSubscription>(
        `SELECT customer, effective_at AS "effectiveAt", plan, recorded_at AS "recordedAt", add_ons AS "addOns"
         FROM subscriptions WHERE recorded_at >= $1 ORDER BY customer, effective_at`,
        [since],
      );
      this.lastLook = at;
      for (const row of r.rows) this.planChanges.push(withAddOns(row));
    } catch (err) {
      this.reachable = false;
      this.lastError = `cannot read plan changes from ${this.location}: ${(err as Error).message}`;
    } finally {
      this.polling = false;
    }
  }
}

/**
 * The store's engine lock: a session advisory lock, exclusive for an engine
 * that must be the only one, shared otherwise, so the two kinds exclude each
 * other. Released when the engine closes or its connection ends.
 */
async function takeLock(
  config: pg.ClientConfig,
  location: PgLocation,
  exclusive: boolean,
): Promise<pg.Client> {
  const client = new pg.Client(config);
  client.on("error", () => {});
  await client.connect();
  const fn = exclusive ? "pg_try_advisory_lock" : "pg_try_advisory_lock_shared";
  // A few tries: an engine closed just before (a restart) may not have ended its session yet.
  for (let attempt = 0; attempt < LOCK_TRIES; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
    const r = await client.query<{ ok: boolean }>(`SELECT ${fn}(hashtext($1)) AS ok`, [
      `limitr-engine:${location.schema ?? ""}`,
    ]);
    if (r.rows[0]?.ok === true) return client;
  }
  await client.end().catch(() => {});
  throw new InputError(
    exclusive
      ? `store ${location.display} is open in another limitr engine: exclusive: true (limitr serve --exclusive) needs it to be the only one`
      : `store ${location.display} is held by an engine opened with exclusive: true; close it, or open every engine without it`,
  );
}

function bigintAsNumber(oid: number, format?: "text" | "binary") {
  return oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format);
}

async function load(client: pg.PoolClient, ids: number, ledger: number): Promise<Snapshot> {
  await client.query("INSERT INTO meta (key, value) VALUES ('store.id', $1) ON CONFLICT (key) DO NOTHING", [
    randomBytes(4).toString("hex"),
  ]);
  const meta = await client.query<{ value: string }>("SELECT value FROM meta WHERE key = 'store.id'");
  const counters = await client.query<CounterRow>(
    `SELECT c.key, owner, entitlement, period_start AS "periodStart", used, events, updated_at AS "updatedAt",
       p.state AS "periodState" FROM counters c LEFT JOIN counter_periods p ON p.key = c.key`,
  );
  const holds = await client.query<HoldRow>(
    `SELECT id, key, customer, entitlement, amount, expires_at AS "expiresAt" FROM holds`,
  );
  const plans = await client.query<StoredSubscription>(
    `SELECT customer, effective_at AS "effectiveAt", plan, recorded_at AS "recordedAt", add_ons AS "addOns"
     FROM subscriptions ORDER BY customer, effective_at`,
  );
  const currencies = await client.query<{ customer: string; currency: string }>(
    "SELECT customer, currency FROM customer_currencies",
  );
  const recent = await client.query<{ id: string }>("SELECT id FROM events ORDER BY seq DESC LIMIT $1", [
    ids,
  ]);
  const wallets = await client.query<Omit<WalletRow, "lots" | "holds"> & { lots: string; holds: string }>(
    `SELECT customer, unit, opened_at AS "openedAt", next_grant_at AS "nextGrantAt", balance, lots, holds FROM wallets`,
  );
  const tx = await client.query<WalletTxRow>(
    `SELECT id, customer, kind, at, amount, balance_after AS "balanceAfter", bundle_version AS "bundleVersion",
       lot, entitlement, note FROM wallet_transactions ORDER BY seq DESC LIMIT $1`,
    [ledger],
  );
  return {
    storeId: meta.rows[0]?.value ?? "",
    counters: counters.rows,
    holds: holds.rows,
    plans: plans.rows.map(withAddOns),
    currencies: currencies.rows.map((r) => [r.customer, r.currency]),
    ids: recent.rows.map((r) => r.id).reverse(),
    wallets: wallets.rows.map((w) => ({ ...w, lots: JSON.parse(w.lots), holds: JSON.parse(w.holds) })),
    ledger: tx.rows.reverse(),
  };
}
