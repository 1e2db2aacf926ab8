import type pg from "pg";
import { encodeAddOns } from "../../../core/add-ons.js";
import type { CounterRow, HoldRow, SubscriptionRow } from "../../../core/engine/store-port.js";
import type { WalletRow, WalletTxRow } from "../../../core/wallet/store-rows.js";
import type { PgRows } from "./engine-rows.js";
import { insertFolding } from "./rollups.js";

/** Rows per statement: arrays bound as parameters, so one statement per chunk whatever its size. */
const CHUNK = 5000;

/**
 * The engine's statements. Each takes whole columns as array parameters and
 * `unnest`s them, so a batch is a handful of round trips. Every one is
 * idempotent (R13): events and ledger rows are skipped when their id is
 * stored (new events are folded into the registered rollups), counters,
 * holds, plans and wallets are set to the batch's values.
 */
const SQL = {
  events: `INSERT INTO events (id, type, customer, ts, value, properties, bundle_version, bundle_digest)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::jsonb[], $7::int[], $8::text[])
    ON CONFLICT (id) DO NOTHING`,
  counters: `INSERT INTO counters (key, owner, entitlement, period_start, used, events, updated_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::bigint[], $7::bigint[])
    ON CONFLICT (key) DO UPDATE SET period_start = excluded.period_start, used = excluded.used,
      events = excluded.events, updated_at = excluded.updated_at`,
  periods: `INSERT INTO counter_periods (key, state) SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT (key) DO UPDATE SET state = excluded.state`,
  holdsDelete: "DELETE FROM holds WHERE id = ANY($1::text[])",
  holds: `INSERT INTO holds (id, key, customer, entitlement, amount, expires_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bigint[])
    ON CONFLICT (id) DO UPDATE SET key = excluded.key, customer = excluded.customer,
      entitlement = excluded.entitlement, amount = excluded.amount, expires_at = excluded.expires_at`,
  subscriptions: `INSERT INTO subscriptions (customer, effective_at, plan, recorded_at, add_ons)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])
    ON CONFLICT (customer, effective_at) DO UPDATE SET plan = excluded.plan, recorded_at = excluded.recorded_at,
      add_ons = excluded.add_ons`,
  walletTx: `INSERT INTO wallet_transactions
    (id, customer, kind, at, amount, balance_after, bundle_version, lot, entitlement, note)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[],
      $8::text[], $9::text[], $10::text[])
    ON CONFLICT (customer, id) DO NOTHING`,
  wallets: `INSERT INTO wallets (customer, unit, opened_at, next_grant_at, balance, lots, holds, updated_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
    ON CONFLICT (customer) DO UPDATE SET unit = excluded.unit, opened_at = excluded.opened_at,
      next_grant_at = excluded.next_grant_at, balance = excluded.balance, lots = excluded.lots,
      holds = excluded.holds, updated_at = excluded.updated_at`,
  // Re-opening under the same policy is not a new activation (and a retried batch adds none).
  activation: `INSERT INTO bundle_activations (activated_at, version, digest, source, previous_version)
    SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (
      SELECT 1 FROM (SELECT version, digest FROM bundle_activations ORDER BY seq DESC LIMIT 1) last
      WHERE last.version = $2 AND last.digest = $3)`,
} as const;

/** Write `rows` in one transaction on `client` (all of it or none of it). */
export async function writeRows(client: pg.PoolClient, rows: PgRows): Promise<void> {
  await client.query("BEGIN");
  try {
    const e = rows.events;
    for (let i = 0; i < e.id.length; i += CHUNK) {
      const to = i + CHUNK;
      await insertFolding(client, SQL.events, [
        e.id.slice(i, to),
        e.type.slice(i, to),
        e.customer.slice(i, to),
        e.ts.slice(i, to),
        e.value.slice(i, to),
        e.properties.slice(i, to),
        e.version.slice(i, to),
        e.digest.slice(i, to),
      ]);
    }
    await chunked(client, SQL.counters, [...rows.counters.values()], counterCols);
    const periods = [...rows.counters.values()].filter((c) => c.periodState != null);
    await chunked(client, SQL.periods, periods, (c) => [c.key, c.periodState as string]);
    if (rows.holdsDelete.size > 0) await client.query(SQL.holdsDelete, [[...rows.holdsDelete]]);
    await chunked(client, SQL.holds, [...rows.holdsUpsert.values()], holdCols);
    await chunked(client, SQL.subscriptions, [...rows.subscriptions.values()], subscriptionCols);
    await chunked(client, SQL.walletTx, rows.walletTx, walletTxCols);
    await chunked(client, SQL.wallets, [...rows.wallets.values()], ({ row, at }) => walletCols(row, at));
    for (const a of rows.activations)
      await client.query(SQL.activation, [a.at, a.version, a.digest, a.source, a.previousVersion]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

/** Bind `items` as columns (one array per field), CHUNK rows per statement. */
async function chunked<T>(
  client: pg.PoolClient,
  sql: string,
  items: readonly T[],
  cols: (item: T) => unknown[],
): Promise<void> {
  for (let i = 0; i < items.length; i += CHUNK) {
    const part = items.slice(i, i + CHUNK);
    const columns: unknown[][] = [];
    for (const item of part) {
      const values = cols(item);
      for (let k = 0; k < values.length; k++) (columns[k] ??= []).push(values[k]);
    }
    await client.query(sql, columns);
  }
}

const counterCols = (c: CounterRow) => [
  c.key,
  c.owner,
  c.entitlement,
  c.periodStart,
  c.used,
  c.events,
  c.updatedAt,
];
const holdCols = (h: HoldRow) => [h.id, h.key, h.customer, h.entitlement, h.amount, h.expiresAt];
const subscriptionCols = (s: SubscriptionRow) => [
  s.customer,
  s.effectiveAt,
  s.plan,
  s.recordedAt,
  encodeAddOns(s.addOns ?? []),
];
const walletTxCols = (t: WalletTxRow) => [
  t.id,
  t.customer,
  t.kind,
  t.at,
  t.amount,
  t.balanceAfter,
  t.bundleVersion,
  t.lot,
  t.entitlement,
  t.note,
];
const walletCols = (w: WalletRow, at: number) => [
  w.customer,
  w.unit,
  w.openedAt,
  w.nextGrantAt,
  w.balance,
  JSON.stringify(w.lots),
  JSON.stringify(w.holds),
  at,
];
