import type pg from "pg";
import { InputError } from "../../../core/errors.js";
import { type PgLocation, quoteIdent } from "./url.js";

/**
 * Schema migrations of the shared store, applied in order; `limitr_migrations`
 * records each one. Never edit a migration that has shipped: append a new one.
 * Times are epoch milliseconds (BIGINT) as in the SQLite store; quantities are
 * doubles in `value` (sums are then the same as SQLite's), exact NUMERIC in the
 * columns extracted at import; money is exact decimal text.
 */
const MIGRATIONS: string[] = [
  // 1: the usage store, its bookkeeping and the engine's shared state.
  `
  CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    customer TEXT NOT NULL,
    ts BIGINT NOT NULL,
    value DOUBLE PRECISION,
    properties JSONB,
    bundle_version INTEGER,
    bundle_digest TEXT
  );
  -- Every read is one meter (a set of types) over a time range; seq orders ties for the replay.
  CREATE INDEX events_by_type_time ON events (type, ts, seq);

  CREATE TABLE subscriptions (
    customer TEXT NOT NULL,
    effective_at BIGINT NOT NULL,
    plan TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (customer, effective_at)
  );
  CREATE INDEX subscriptions_by_recorded ON subscriptions (recorded_at);

  CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    used DOUBLE PRECISION NOT NULL,
    events BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
  );

  CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    customer TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    expires_at BIGINT NOT NULL
  );

  CREATE TABLE alert_state (
    alert TEXT NOT NULL,
    customer TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (alert, customer, entitlement, period_start)
  );

  CREATE TABLE alert_outbox (
    id TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    sending_at BIGINT,
    PRIMARY KEY (id, channel)
  );

  CREATE TABLE credit_ledger (
    customer TEXT NOT NULL,
    credit_id TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    invoice TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (customer, credit_id, period_start)
  );

  CREATE TABLE stripe_customers (
    customer TEXT PRIMARY KEY,
    stripe_id TEXT NOT NULL
  );

  CREATE TABLE stripe_invoices (
    number TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    stripe_invoice TEXT NOT NULL,
    items_done INTEGER NOT NULL DEFAULT 0,
    finalized INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE bundle_activations (
    seq BIGSERIAL PRIMARY KEY,
    activated_at BIGINT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    previous_version INTEGER
  );

  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- A property as a number the way SQLite's SUM reads it: numbers, numeric text, booleans as 1/0, else NULL.
  CREATE FUNCTION limitr_num(x JSONB) RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(x)
      WHEN 'number' THEN (x #>> '{}')::double precision
      WHEN 'boolean' THEN CASE WHEN x = 'true'::jsonb THEN 1 ELSE 0 END
      WHEN 'string' THEN CASE WHEN (x #>> '{}') ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$'
        THEN (x #>> '{}')::double precision END
    END
  $fn$;

  -- A property as the text a group or a distinct value is keyed by (booleans as 1/0, as SQLite's json_extract).
  CREATE FUNCTION limitr_text(x JSONB) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(x)
      WHEN 'boolean' THEN CASE WHEN x = 'true'::jsonb THEN '1' ELSE '0' END
      WHEN 'null' THEN NULL
      ELSE x #>> '{}'
    END
  $fn$;
  `,
  // 2: invoices as pushed to Stripe, so later usage of their period becomes an adjustment, never an edit (SPEC §15).
  `
  CREATE TABLE pushed_invoices (
    number TEXT PRIMARY KEY,
    adjusts TEXT NOT NULL,
    customer TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    through_seq BIGINT NOT NULL,
    invoice TEXT NOT NULL,
    pushed_at BIGINT NOT NULL
  );
  CREATE INDEX pushed_invoices_by_period ON pushed_invoices (period_start, period_end);
  `,
  // 3: what the embedded engine keeps beside counters (interval and sliding period state), and
  // prepaid wallets (SPEC §12): one row per customer's wallet and the append-only ledger (R17).
  `
  CREATE TABLE counter_periods (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL
  );

  CREATE TABLE wallets (
    customer TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    next_grant_at BIGINT,
    balance TEXT NOT NULL,
    lots TEXT NOT NULL,
    holds TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );

  CREATE TABLE wallet_transactions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL,
    customer TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
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
  // 4: the currency a self-serve customer is invoiced in (\`limitr customers set --currency\`); contracts carry theirs.
  `
  CREATE TABLE customer_currencies (
    customer TEXT PRIMARY KEY,
    currency TEXT NOT NULL
  );
  `,
  // 5: add-ons (SPEC §15): the add-on plans held with each plan-history row, comma-separated ids ('' = none).
  `
  ALTER TABLE subscriptions ADD COLUMN add_ons TEXT NOT NULL DEFAULT '';
  `,
  // 6: values extracted at import (layouts.ts), exact: NUMERIC, read as limitr_numeric reads the JSON.
  `
  CREATE FUNCTION limitr_numeric(x JSONB) RETURNS NUMERIC LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(x)
      WHEN 'number' THEN (x #>> '{}')::numeric
      WHEN 'boolean' THEN CASE WHEN x = 'true'::jsonb THEN 1 ELSE 0 END
      WHEN 'string' THEN CASE WHEN (x #>> '{}') ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$'
        THEN (x #>> '{}')::numeric END
    END
  $fn$;

  CREATE TABLE value_layouts (
    id SERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    numbers TEXT[] NOT NULL,
    texts TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (type, numbers, texts)
  );

  -- Adding nullable columns rewrites nothing: events imported before have no layout and are read from the JSON.
  ALTER TABLE events
    ADD COLUMN layout INTEGER,
    ADD COLUMN n1 NUMERIC, ADD COLUMN n2 NUMERIC, ADD COLUMN n3 NUMERIC, ADD COLUMN n4 NUMERIC,
    ADD COLUMN t1 TEXT, ADD COLUMN t2 TEXT;
  `,
  // 7: quota leases and shared totals of engines that share the store without Redis counters (pg-leases.ts).
  `
  -- One pool per (counter, period): the escrow of core/engine/lease.ts. Locked FOR UPDATE by each operation.
  CREATE TABLE lease_pools (
    counter TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT,
    lim DOUBLE PRECISION NOT NULL,
    consumed DOUBLE PRECISION NOT NULL,
    outstanding DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (counter, period_start)
  );
  CREATE INDEX lease_pools_by_end ON lease_pools (period_end);

  -- Each engine's lease in a pool; reported is the cumulative usage it reported (a resent report counts once).
  CREATE TABLE lease_holders (
    counter TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    holder TEXT NOT NULL,
    allowance DOUBLE PRECISION NOT NULL,
    expires_at BIGINT NOT NULL,
    reported DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (counter, period_start, holder),
    FOREIGN KEY (counter, period_start) REFERENCES lease_pools ON DELETE CASCADE
  );

  -- Every counter's usage across engines: each engine's cumulative share (set, never added: a resent sync counts once).
  CREATE TABLE counter_shares (
    counter TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    holder TEXT NOT NULL,
    period_end BIGINT,
    used DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (counter, period_start, holder)
  );
  CREATE INDEX counter_shares_by_end ON counter_shares (period_end);
  `,
  // 8: wallets shared by many engines (R16): each engine's lease of a wallet's available funds,
  // in atoms (exact decimal text, as the wallet's balance), changed only under the wallet row's lock.
  `
  CREATE TABLE wallet_leases (
    customer TEXT NOT NULL,
    holder TEXT NOT NULL,
    allowance TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (customer, holder)
  );
  `,
  // 9: rollups (rollups.ts): each registered meter fingerprint's figures per (customer, day in its
  // timezone, cost dimension value), kept up to date by every write of events; the distinct values
  // of unique_count meters per (customer, day).
  `
  CREATE TABLE rollup_defs (
    fp TEXT PRIMARY KEY,
    definition JSONB NOT NULL,
    zone TEXT NOT NULL,
    built_at BIGINT NOT NULL,
    built_events BIGINT NOT NULL
  );

  -- dim: the cost dimension's value ('' for none); dim_null: the event had no such property.
  CREATE TABLE rollups (
    fp TEXT NOT NULL,
    customer TEXT NOT NULL,
    day DATE NOT NULL,
    dim TEXT NOT NULL,
    dim_null BOOLEAN NOT NULL,
    q NUMERIC,
    n BIGINT NOT NULL,
    t BIGINT NOT NULL,
    tseq BIGINT,
    last NUMERIC,
    lt BIGINT,
    lseq BIGINT,
    PRIMARY KEY (fp, day, customer, dim, dim_null)
  );

  CREATE TABLE rollup_values (
    fp TEXT NOT NULL,
    customer TEXT NOT NULL,
    day DATE NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (fp, day, customer, value)
  );
  `,
  // 10: each engine's cumulative refunds in a lease pool (pg-leases.ts): a resent report gives them back once.
  `
  ALTER TABLE lease_holders ADD COLUMN refunded DOUBLE PRECISION NOT NULL DEFAULT 0;
  `,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

export interface MigrateOptions {
  /** Create the schema and tables when missing (writers only). */
  create: boolean;
  readonly: boolean;
}

async function currentVersion(client: pg.PoolClient): Promise<number> {
  const exists = await client.query<{ t: string | null }>(
    "SELECT to_regclass('limitr_migrations')::text AS t",
  );
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return 0;
  const r = await client.query<{ v: number | null }>("SELECT MAX(version) AS v FROM limitr_migrations");
  return r.rows[0]?.v ?? 0;
}

/**
 * Bring the store's schema up to date in one transaction under an advisory
 * lock: of several processes opening a new store at once, the first
 * migrates and the others wait, then find the schema up to date.
 */
export async function migrate(
  client: pg.PoolClient,
  location: PgLocation,
  options: MigrateOptions,
): Promise<void> {
  const check = (current: number) => {
    if (current > PG_SCHEMA_VERSION) {
      throw new InputError(
        `store ${location.display} has schema version ${current}, newer than this limitr understands (${PG_SCHEMA_VERSION}); upgrade limitr`,
      );
    }
    // A database (or schema) no limitr ever wrote: a mistyped --db must not read as an empty store.
    if (current === 0 && !options.create) {
      throw new InputError(`store ${location.display} is not a limitr store (no schema): check --db`);
    }
    if (current < PG_SCHEMA_VERSION && options.readonly) {
      throw new InputError(
        `store ${location.display} needs a schema upgrade; open it once without read-only mode`,
      );
    }
  };
  const before = await currentVersion(client);
  check(before);
  if (before === PG_SCHEMA_VERSION) return;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`limitr:${location.schema ?? ""}`]);
    if (location.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(location.schema)}`);
    const locked = await currentVersion(client);
    check(locked);
    if (locked === 0) {
      await client.query(
        "CREATE TABLE limitr_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
      );
    }
    for (let v = locked; v < PG_SCHEMA_VERSION; v++) {
      await client.query(MIGRATIONS[v] as string);
      await client.query("INSERT INTO limitr_migrations (version) VALUES ($1)", [v + 1]);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
