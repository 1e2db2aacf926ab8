import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { encodeAddOns, withAddOns } from "../../core/add-ons.js";
import type {
  CounterColumns,
  CounterRow,
  EngineStore,
  HoldRow,
  PolicyActivation,
  StoredEvent,
  StoreLease,
  SubscriptionRow,
  WriteBatch,
} from "../../core/engine/store-port.js";
import { InputError } from "../../core/errors.js";
import type { WalletTxKind } from "../../core/wallet/model.js";
import type { WalletRow, WalletTxRow } from "../../core/wallet/store-rows.js";
import { type Db, openDatabase } from "./database.js";
import { KeyOrder } from "./key-order.js";
import { DEFAULT_LEASE_MS, isLive, type Owner, parseOwner } from "./owner-lease.js";
import { RollupMaintainer } from "./rollups.js";
import { SqliteWallets } from "./sqlite-wallets.js";

const OWNER_KEY = "engine.owner";
/** Rows per multi-row statement (the remainder goes row by row). */
/** How far before its previous look `externalPlanChanges` reads (slow commits, clocks of two hosts). */
const CLOCK_SLACK_MS = 60_000;
const EVENT_CHUNK = 64;
const COUNTER_CHUNK = 64;
/** The order of a batch of one counter. */
const FIRST = Int32Array.of(0);
/**
 * Values bound per row of a multi-row statement: the batch-wide values (bundle,
 * write time) are named parameters shared by its rows. Single-row statements
 * (the remainder, and every write with sync durability) bind all values by
 * position, which is cheaper than binding an object of named values.
 */
const EVENT_WIDTH = 6;
const COUNTER_WIDTH = 4;
const INSERT_EVENTS =
  "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties, bundle_version, bundle_digest) VALUES";
const EVENT_ROW = "(?,?,?,?,?,?,@version,@digest)";
const UPSERT_COUNTERS = {
  head: "INSERT INTO counters (key, period_start, used, events, updated_at) VALUES",
  row: "(?,?,?,?,@at)",
  tail: `ON CONFLICT(key) DO UPDATE SET period_start = excluded.period_start, used = excluded.used,
    events = excluded.events, updated_at = excluded.updated_at`,
};

function rows(row: string, n: number): string {
  return Array(n).fill(row).join(",");
}

/**
 * The SQLite engine store (WAL). Opening it takes the store's owner lock: a
 * second engine on the same file, in this process or another, is refused,
 * because two engines keeping their own counters would each allow the full
 * limit (a silent double spend). Readers (`limitr usage`, `limitr bill`) open
 * the file read-only and never look at the lock.
 *
 * @example
 * const store = new SqliteEngineStore(".limitr/usage.db");
 * store.write(batch);
 * store.close();
 */
/** A plan-history row as SQLite returns it: the add-on set still encoded. */
type StoredSubscription = Omit<SubscriptionRow, "addOns"> & { addOns: string };

export class SqliteEngineStore implements EngineStore, StoreLease {
  readonly location: string;
  readonly lease: StoreLease = this;
  fenced = false;
  storeId = "";
  /** The connection, for the alert state and outbox tables kept in the same file. */
  readonly db: Db;
  private readonly token = randomBytes(8).toString("hex");
  private closed = false;
  private readonly eventArgs: unknown[] = new Array(EVENT_CHUNK * EVENT_WIDTH);
  private readonly oneEventArgs: unknown[] = new Array(EVENT_WIDTH + 2);
  private readonly counterArgs: unknown[] = new Array(COUNTER_CHUNK * COUNTER_WIDTH);
  private readonly oneCounterArgs: unknown[] = new Array(COUNTER_WIDTH + 1);
  /** The engine's counters in key order, to write a flush's changed ones in that order. */
  private readonly keyOrder = new KeyOrder();
  private readonly writeTx: (batch: WriteBatch) => void;
  private readonly wallets: SqliteWallets;
  /** `PRAGMA data_version` when plan changes were last looked for: it moves when another connection commits. */
  private dataVersion: number;
  /**
   * Wall-clock time of the previous look for plan changes. Other processes
   * stamp `recorded_at` with their wall clock; the engine's own rows may carry
   * its configured clock, so the newest row is not a safe bookmark.
   */
  private lastLook = Date.now();
  /**
   * `PRAGMA data_version` when a write last found the owner lease held: while it
   * has not moved, no other connection has committed, so the lease is still
   * this store's and a write skips reading it (with sync durability, one
   * statement less per call).
   */
  private ownedVersion = -1;
  private readonly rollups: RollupMaintainer;
  private readonly stmt: {
    event: Database.Statement;
    events: Database.Statement;
    counter: Database.Statement;
    counters: Database.Statement;
    holdPut: Database.Statement;
    periodPut: Database.Statement;
    holdDelete: Database.Statement;
    subscription: Database.Statement;
    beat: Database.Statement;
    owned: Database.Statement;
    dataVersion: Database.Statement;
    recordedSince: Database.Statement;
  };

  constructor(
    readonly path: string,
    readonly leaseMs: number = DEFAULT_LEASE_MS,
  ) {
    this.location = `sqlite:${path}`;
    this.db = openDatabase(path, { create: true });
    try {
      this.acquire(true);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.rollups = new RollupMaintainer(this.db);
    this.stmt = {
      event: this.db.prepare(`${INSERT_EVENTS} (?,?,?,?,?,?,?,?)`),
      events: this.db.prepare(`${INSERT_EVENTS} ${rows(EVENT_ROW, EVENT_CHUNK)}`),
      counter: this.db.prepare(`${UPSERT_COUNTERS.head} (?,?,?,?,?) ${UPSERT_COUNTERS.tail}`),
      counters: this.db.prepare(
        `${UPSERT_COUNTERS.head} ${rows(UPSERT_COUNTERS.row, COUNTER_CHUNK)} ${UPSERT_COUNTERS.tail}`,
      ),
      holdPut: this.db.prepare(
        "INSERT OR REPLACE INTO holds (id, key, customer, entitlement, amount, expires_at) VALUES (?,?,?,?,?,?)",
      ),
      holdDelete: this.db.prepare("DELETE FROM holds WHERE id = ?"),
      periodPut: this.db.prepare("INSERT OR REPLACE INTO counter_periods (key, state) VALUES (?, ?)"),
      subscription: this.db.prepare(
        "INSERT OR REPLACE INTO subscriptions (customer, effective_at, plan, recorded_at, add_ons) VALUES (?,?,?,?,?)",
      ),
      beat: this.db.prepare("UPDATE meta SET value = ? WHERE key = ? AND json_extract(value, '$.token') = ?"),
      owned: this.db
        .prepare("SELECT 1 FROM meta WHERE key = ? AND json_extract(value, '$.token') = ?")
        .pluck(),
      dataVersion: this.db.prepare("PRAGMA data_version").pluck(),
      recordedSince: this.db.prepare(
        "SELECT customer, effective_at AS effectiveAt, plan, recorded_at AS recordedAt, add_ons AS addOns FROM subscriptions WHERE recorded_at >= ? ORDER BY customer, effective_at",
      ),
    };
    this.dataVersion = this.stmt.dataVersion.get() as number;
    this.wallets = new SqliteWallets(this.db);
    this.writeTx = this.db.transaction((b: WriteBatch) => this.writeBatch(b));
  }

  /** A row's owner and entitlement are the two parts of its key, `<entitlement>|<owner>` (ids have no '|'). */
  loadCounters(): CounterRow[] {
    return this.db
      .prepare(
        `SELECT c.key, substr(c.key, instr(c.key, '|') + 1) AS owner, substr(c.key, 1, instr(c.key, '|') - 1) AS entitlement,
          period_start AS periodStart, used, events, updated_at AS updatedAt,
          p.state AS periodState FROM counters c LEFT JOIN counter_periods p ON p.key = c.key`,
      )
      .all() as CounterRow[];
  }

  loadHolds(): HoldRow[] {
    return this.db
      .prepare("SELECT id, key, customer, entitlement, amount, expires_at AS expiresAt FROM holds")
      .all() as HoldRow[];
  }

  loadCustomerCurrencies(): [string, string][] {
    return (
      this.db.prepare("SELECT customer, currency FROM customer_currencies").all() as {
        customer: string;
        currency: string;
      }[]
    ).map((r) => [r.customer, r.currency]);
  }

  loadPlanHistory(): SubscriptionRow[] {
    const rows = this.db
      .prepare(
        "SELECT customer, effective_at AS effectiveAt, plan, recorded_at AS recordedAt, add_ons AS addOns FROM subscriptions ORDER BY customer, effective_at",
      )
      .all() as StoredSubscription[];
    return rows.map(withAddOns);
  }

  externalPlanChanges(): SubscriptionRow[] {
    const version = this.stmt.dataVersion.get() as number;
    if (version === this.dataVersion) return [];
    this.dataVersion = version;
    const since = this.lastLook - CLOCK_SLACK_MS;
    this.lastLook = Date.now();
    return (this.stmt.recordedSince.all(since) as StoredSubscription[]).map(withAddOns);
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

  recentEventIds(limit: number): string[] {
    const rows = this.db
      .prepare("SELECT id FROM events ORDER BY seq DESC LIMIT ?")
      .pluck()
      .all(limit) as string[];
    return rows.reverse();
  }

  write(batch: WriteBatch): void {
    this.writeTx(batch);
  }

  /**
   * The flush-time fence: a batch is written whole only while this store holds
   * the owner lease. Otherwise its events and plan changes (usage that
   * happened) are written, its counters and holds (this engine's view, now
   * stale) are not, and `fenced` tells the engine.
   */
  private writeBatch(b: WriteBatch): void {
    if (!this.owns()) {
      this.fenced = true;
      this.writeEvents(b);
      for (const s of b.subscriptions)
        this.stmt.subscription.run(
          s.customer,
          s.effectiveAt,
          s.plan,
          s.recordedAt,
          encodeAddOns(s.addOns ?? []),
        );
      return;
    }
    this.writeEvents(b);
    this.writeCounters(b.counters, b.at);
    for (const h of b.holdsUpsert)
      this.stmt.holdPut.run(h.id, h.key, h.customer, h.entitlement, h.amount, h.expiresAt);
    for (const id of b.holdsDelete) this.stmt.holdDelete.run(id);
    for (const s of b.subscriptions)
      this.stmt.subscription.run(
        s.customer,
        s.effectiveAt,
        s.plan,
        s.recordedAt,
        encodeAddOns(s.addOns ?? []),
      );
    if (b.wallets !== undefined) this.wallets.write(b.wallets, b.at);
  }

  /**
   * Whether this store holds the owner lease, read inside the write's
   * transaction. The pragma is its first read, so it fixes the transaction's
   * snapshot: a commit by another connection after it makes this write fail
   * (SQLITE_BUSY_SNAPSHOT) rather than go ahead on a stale answer.
   */
  private owns(): boolean {
    const version = this.stmt.dataVersion.get() as number;
    if (version === this.ownedVersion) return true;
    if (this.stmt.owned.get(OWNER_KEY, this.token) === undefined) return false;
    this.ownedVersion = version;
    return true;
  }

  /**
   * Multi-row inserts: one statement per EVENT_CHUNK rows halves the per-row
   * cost of crossing into SQLite. Arguments are spread rather than passed as
   * an array because better-sqlite3 reads array elements one generic property
   * lookup at a time.
   */
  private writeEvents(b: WriteBatch): void {
    const { events } = b;
    if (events.length === 0) return;
    const mark = this.rollups.before();
    const shared = { version: b.bundleVersion, digest: b.bundleDigest };
    const args = this.eventArgs;
    let i = 0;
    // The engine's buffer fills the rows itself: no StoredEvent object per event.
    const direct = events.fill !== undefined;
    for (; i + EVENT_CHUNK <= events.length; i += EVENT_CHUNK) {
      if (direct) for (let j = 0; j < EVENT_CHUNK; j++) events.fill?.(i + j, args, j * EVENT_WIDTH);
      else for (let j = 0; j < EVENT_CHUNK; j++) fillEvent(args, j * EVENT_WIDTH, events.event(i + j));
      this.stmt.events.run(...args, shared);
    }
    const one = this.oneEventArgs;
    one[EVENT_WIDTH] = b.bundleVersion;
    one[EVENT_WIDTH + 1] = b.bundleDigest;
    for (; i < events.length; i++) {
      if (direct) events.fill?.(i, one, 0);
      else fillEvent(one, 0, events.event(i));
      this.stmt.event.run(...one);
    }
    // Usage rollups registered on this store count the new rows in the same transaction.
    this.rollups.after(mark);
  }

  /**
   * Upserts in key order: a flush typically changes counters all over the
   * table, and visiting them in key order keeps each statement's rows on a few
   * neighbouring B-tree pages (a multi-row statement over scattered pages
   * costs more than one statement per row, because SQLite saves every page a
   * statement touches in case the statement has to be undone).
   */
  private writeCounters(c: CounterColumns, at: number): void {
    const n = c.length;
    if (n === 0) return;
    // One counter (every write with sync durability) needs no ordering, nor the ranking of counters added since.
    const order = n === 1 ? FIRST : this.keyOrder.order(c);
    const shared = { at };
    const args = this.counterArgs;
    let i = 0;
    for (; i + COUNTER_CHUNK <= n; i += COUNTER_CHUNK) {
      for (let j = 0; j < COUNTER_CHUNK; j++) {
        const k = order[i + j] as number;
        fillCounter(args, j * COUNTER_WIDTH, c, k);
      }
      this.stmt.counters.run(...args, shared);
    }
    const one = this.oneCounterArgs;
    one[COUNTER_WIDTH] = at;
    for (; i < n; i++) {
      const k = order[i] as number;
      fillCounter(one, 0, c, k);
      this.stmt.counter.run(...one);
    }
    // Interval and sliding counters only: a calendar counter has no period state and costs one call here.
    for (let k = 0; k < n; k++) {
      const state = c.periodState(k);
      if (state !== null) this.stmt.periodPut.run(c.key(k), state);
    }
  }

  recordActivation(a: PolicyActivation): void {
    // Re-opening under the same policy is not a new activation.
    const last = this.db
      .prepare("SELECT version, digest FROM bundle_activations ORDER BY seq DESC LIMIT 1")
      .get() as { version: number; digest: string } | undefined;
    if (last && last.version === a.version && last.digest === a.digest) return;
    this.db
      .prepare(
        "INSERT INTO bundle_activations (activated_at, version, digest, source, previous_version) VALUES (?, ?, ?, ?, ?)",
      )
      .run(a.at, a.version, a.digest, a.source, a.previousVersion);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db
        .prepare("DELETE FROM meta WHERE key = ? AND json_extract(value, '$.token') = ?")
        .run(OWNER_KEY, this.token);
    } finally {
      this.db.close();
    }
  }

  /** Take the owner lease; with `fail`, a live holder is an InputError, else the answer is false. */
  private acquire(fail: boolean): boolean {
    const me = this.owner();
    return this.db
      .transaction(() => {
        const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(OWNER_KEY) as
          | string
          | undefined;
        if (row !== undefined) {
          const owner = parseOwner(row);
          if (owner && owner.token !== this.token && isLive(owner, me.heartbeat)) {
            if (!fail) return false;
            throw new InputError(
              `store ${this.path} is in use by another limitr engine (pid ${owner.pid} on ${owner.host}). ` +
                "Run one engine per store file and share it inside the process; for several processes or " +
                "hosts use a shared counter store (Redis/Postgres, planned). If that process is gone, retry in " +
                `${Math.ceil((owner.leaseMs ?? DEFAULT_LEASE_MS) / 1000)}s or delete the 'engine.owner' row from the meta table.`,
            );
          }
        }
        this.db
          .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
          .run(OWNER_KEY, JSON.stringify(me));
        this.db
          .prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('store.id', ?)")
          .run(randomBytes(4).toString("hex"));
        this.storeId = this.db
          .prepare("SELECT value FROM meta WHERE key = 'store.id'")
          .pluck()
          .get() as string;
        return true;
      })
      .immediate();
  }

  private owner(): Owner {
    return {
      pid: process.pid,
      host: hostname(),
      token: this.token,
      heartbeat: Date.now(),
      leaseMs: this.leaseMs,
    };
  }

  renew(): boolean {
    if (this.closed) return false;
    return this.stmt.beat.run(JSON.stringify(this.owner()), OWNER_KEY, this.token).changes === 1;
  }

  reacquire(): boolean {
    if (this.closed || !this.acquire(false)) return false;
    this.fenced = false;
    return true;
  }
}

function fillEvent(args: unknown[], at: number, e: StoredEvent): void {
  args[at] = e.id;
  args[at + 1] = e.type;
  args[at + 2] = e.customer;
  args[at + 3] = e.ts;
  args[at + 4] = e.value;
  args[at + 5] = e.properties === null ? null : JSON.stringify(e.properties);
}

function fillCounter(args: unknown[], at: number, c: CounterColumns, k: number): void {
  args[at] = c.key(k);
  args[at + 1] = c.periodStart(k);
  args[at + 2] = c.used(k);
  args[at + 3] = c.events(k);
}
