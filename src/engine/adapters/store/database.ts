import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { InputError } from "../../core/errors.js";

const requireModule = createRequire(import.meta.url);

export type Db = Database.Database;

/**
 * Schema migrations, applied in order inside one immediate transaction. The
 * store's `user_version` pragma records the last one applied. Never edit a
 * migration that has shipped: append a new one.
 */
const MIGRATIONS: string[] = [
  // 1: the usage store.
  `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    customer TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value NUMERIC,
    properties TEXT,
    bundle_version INTEGER,
    bundle_digest TEXT
  );
  -- Billing and queries read one meter (a set of event types) over a time range. One index
  -- only: every index costs on each imported row.
  CREATE INDEX events_by_type_time ON events (type, ts);

  -- Plan history (setPlan / customers set). The plan in force at time t is the row with the largest effective_at <= t.
  CREATE TABLE subscriptions (
    customer TEXT NOT NULL,
    effective_at INTEGER NOT NULL,
    plan TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (customer, effective_at)
  ) WITHOUT ROWID;

  -- Live counters of the engine: one row per counter (scope owner + entitlement), holding the period it belongs to.
  -- A row whose period_start is not the current period is stale and reads as zero.
  CREATE TABLE counters (
    key TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    used REAL NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Reservations (R8): units held against a counter until settled, released or expired.
  CREATE TABLE holds (
    id TEXT NOT NULL PRIMARY KEY,
    key TEXT NOT NULL,
    customer TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    amount REAL NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Alert firing state per rule, customer, entitlement and period (restart-safe: never re-send, never forget).
  CREATE TABLE alert_state (
    alert TEXT NOT NULL,
    customer TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (alert, customer, entitlement, period_start)
  ) WITHOUT ROWID;

  -- Notifications waiting for (or done with) delivery. A receiver outage leaves them pending for the next run.
  CREATE TABLE alert_outbox (
    id TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error TEXT,
    PRIMARY KEY (id, channel)
  ) WITHOUT ROWID;

  -- Credit consumed per customer, grant and billed period (R12): balances carry over; re-billing a period replaces its row.
  CREATE TABLE credit_ledger (
    customer TEXT NOT NULL,
    credit_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    invoice TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (customer, credit_id, period_start)
  ) WITHOUT ROWID;

  -- Stripe customer ids for self-serve customers (contracts carry metadata.stripe_customer_id).
  CREATE TABLE stripe_customers (
    customer TEXT NOT NULL PRIMARY KEY,
    stripe_id TEXT NOT NULL
  ) WITHOUT ROWID;

  -- meta also holds the engine owner lock (key 'engine.owner'): one writing engine per store file.
  -- Invoices pushed to Stripe: resume a partial push, refuse to push a changed invoice twice.
  CREATE TABLE stripe_invoices (
    number TEXT NOT NULL PRIMARY KEY,
    content_hash TEXT NOT NULL,
    stripe_invoice TEXT NOT NULL,
    items_done INTEGER NOT NULL DEFAULT 0,
    finalized INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  -- Every policy an engine activated on this store, in order: which bundle decided what, and since when (R14).
  CREATE TABLE bundle_activations (
    seq INTEGER PRIMARY KEY,
    activated_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    previous_version INTEGER
  );

  CREATE TABLE meta (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: a running engine picks up plan changes other processes record (\`limitr customers set\`).
  `
  CREATE INDEX subscriptions_by_recorded ON subscriptions (recorded_at);
  `,
  // 3: alert deliveries record the attempt before the send, so a run killed mid-send leaves a trace (at-least-once).
  `
  ALTER TABLE alert_outbox ADD COLUMN sending_at INTEGER;
  `,
  // 4: what interval (first_use) and sliding periods keep beside a counter's numbers: the anchor, the buckets.
  `
  CREATE TABLE counter_periods (
    key TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: prepaid wallets (SPEC §12): one row per customer's wallet and the append-only ledger (R17).
  `
  CREATE TABLE wallets (
    customer TEXT NOT NULL PRIMARY KEY,
    unit TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    next_grant_at INTEGER,
    balance TEXT NOT NULL,
    lots TEXT NOT NULL,
    holds TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE wallet_transactions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    customer TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    amount TEXT NOT NULL,
    balance_after TEXT NOT NULL,
    bundle_version INTEGER NOT NULL,
    lot TEXT,
    entitlement TEXT,
    note TEXT,
    UNIQUE (customer, id)
  );
  CREATE INDEX wallet_transactions_by_customer ON wallet_transactions (customer, at);
  CREATE INDEX wallet_transactions_by_time ON wallet_transactions (at);
  `,
  // 6: invoices as pushed to Stripe, so later usage of their period becomes an adjustment, never an edit (SPEC §15).
  `
  CREATE TABLE pushed_invoices (
    number TEXT NOT NULL PRIMARY KEY,
    adjusts TEXT NOT NULL,
    customer TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    through_seq INTEGER NOT NULL,
    invoice TEXT NOT NULL,
    pushed_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX pushed_invoices_by_period ON pushed_invoices (period_start, period_end);
  `,
  // 7: the currency a self-serve customer is invoiced in (\`limitr customers set --currency\`); contracts carry theirs.
  `
  CREATE TABLE customer_currencies (
    customer TEXT NOT NULL PRIMARY KEY,
    currency TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 8: add-ons (SPEC §15): the add-on plans held with each plan-history row, comma-separated ids ('' = none).
  `
  ALTER TABLE subscriptions ADD COLUMN add_ons TEXT NOT NULL DEFAULT '';
  `,
  // 9: usage rollups (docs/billing.md "Rollups"): per meter definition (fingerprint), customer, day and
  // cost dimension, kept up to date as events are inserted. through_seq: every event with seq <= it is counted.
  `
  CREATE TABLE rollup_defs (
    fp TEXT NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL,
    zone TEXT NOT NULL,
    through_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    built_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE rollups (
    fp TEXT NOT NULL,
    day INTEGER NOT NULL,
    customer TEXT NOT NULL,
    dim TEXT NOT NULL,
    q,
    f INTEGER NOT NULL DEFAULT 0,
    n INTEGER NOT NULL,
    t INTEGER,
    s INTEGER,
    PRIMARY KEY (fp, day, customer, dim)
  ) WITHOUT ROWID;
  CREATE TABLE rollup_values (
    fp TEXT NOT NULL,
    day INTEGER NOT NULL,
    customer TEXT NOT NULL,
    value TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (fp, day, customer, value)
  ) WITHOUT ROWID;
  `,
  // 10: the first events of each rollup day (percentage free_events reads them, docs/billing.md "Rollups"):
  // per definition, day and customer the first_n events by (ts, id), with their values.
  `
  ALTER TABLE rollup_defs ADD COLUMN first_n INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE rollup_firsts (
    fp TEXT NOT NULL,
    day INTEGER NOT NULL,
    customer TEXT NOT NULL,
    ts INTEGER NOT NULL,
    id TEXT NOT NULL,
    v REAL NOT NULL,
    PRIMARY KEY (fp, day, customer, ts, id)
  ) WITHOUT ROWID;
  `,
  // 11: counters without their owner and entitlement columns: the key holds both (\`<entitlement>|<owner>\`, a spend
  // cap's \`cap:<id>|<owner>\`; ids have no '|'). A busy engine rewrites most counter rows at every timed flush, and
  // a smaller row is a cheaper write (fewer pages to write and checkpoint).
  `
  CREATE TABLE counters_v11 (
    key TEXT NOT NULL PRIMARY KEY,
    period_start INTEGER NOT NULL,
    used REAL NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO counters_v11 (key, period_start, used, events, updated_at)
    SELECT key, period_start, used, events, updated_at FROM counters;
  DROP TABLE counters;
  ALTER TABLE counters_v11 RENAME TO counters;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface OpenOptions {
  /**
   * Create the file (and its directory) when it does not exist. Only writers
   * create a store (`usage import`, `customers set|import`, the engine): a
   * reading command given a mistyped `--db` must fail, not read an empty store.
   */
  create?: boolean;
  readonly?: boolean;
}

/** A reading command's store must exist: an InputError naming it, else. */
export function requireExistingStore(path: string): void {
  if (path !== ":memory:" && !existsSync(path))
    throw new InputError(
      `store ${path} does not exist: check --db (limitr usage import or limitr customers set creates a store)`,
    );
}

/** Open a SQLite usage store in WAL mode and bring its schema up to date. */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  const create = (options.create ?? false) && !options.readonly;
  if (!create) requireExistingStore(path);
  if (path !== ":memory:" && create) mkdirSync(dirname(path), { recursive: true });
  let db: Db;
  try {
    // better-sqlite3 (a native module) is loaded when a database is opened, not on import.
    const Sqlite = requireModule("better-sqlite3") as typeof Database;
    db = new Sqlite(path, {
      readonly: options.readonly ?? false,
      fileMustExist: !create,
    });
  } catch (err) {
    throw new InputError(`cannot open store ${path}: ${(err as Error).message}`);
  }
  try {
    prepare(db, path, options.readonly ?? false, create);
  } catch (err) {
    db.close();
    if (err instanceof InputError) throw err;
    // "file is not a database", "database disk image is malformed", a read-only file...
    throw new InputError(`cannot use store ${path}: ${(err as Error).message}`);
  }
  return db;
}

/** Pragmas and migrations: everything that reads the file and can find it is not a usable store. */
function prepare(db: Db, path: string, readonly: boolean, create: boolean): void {
  db.pragma("busy_timeout = 5000");
  if (!readonly) {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
  }
  const version = () => db.pragma("user_version", { simple: true }) as number;
  const check = (current: number) => {
    if (current > SCHEMA_VERSION) {
      throw new InputError(
        `store ${path} has schema version ${current}, newer than this limitr understands (${SCHEMA_VERSION}); upgrade limitr`,
      );
    }
    // An existing file that no limitr ever wrote (an empty file, another program's database).
    if (current === 0 && !create) {
      throw new InputError(`store ${path} is not a limitr store (no schema): check --db`);
    }
    if (current < SCHEMA_VERSION && readonly) {
      throw new InputError(`store ${path} needs a schema upgrade; open it once without read-only mode`);
    }
  };
  const current = version();
  check(current);
  if (current === SCHEMA_VERSION || readonly) return;
  // Check and migrate under one write lock: of several processes opening a new store at
  // once, the first migrates and the others wait, then find the schema up to date.
  db.transaction(() => {
    const locked = version();
    check(locked);
    for (let v = locked; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] as string);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
