import { createRequire } from "node:module";
import type pg from "pg";
import type { PgLocation } from "../adapters/store/postgres/url.js";
import type { WalletRow, WalletTxRow } from "../core/wallet/store-rows.js";
import {
  type PoolReply,
  type PoolRequest,
  settlePool,
  type WalletLease,
  type WalletLeaseParams,
} from "./wallet-pool.js";

const requireModule = createRequire(import.meta.url);

const WALLETS = `SELECT customer, unit, opened_at AS "openedAt", next_grant_at AS "nextGrantAt", balance, lots, holds
  FROM wallets WHERE customer = ANY($1::text[]) ORDER BY customer FOR UPDATE`;
/** A wallet row no sync opened yet: unit '' (committed on its own, so engines never wait on each other's inserts). */
const PLACEHOLDERS = `INSERT INTO wallets (customer, unit, opened_at, next_grant_at, balance, lots, holds, updated_at)
  SELECT c, '', $2, NULL, '0', '[]', '[]', $2 FROM unnest($1::text[]) AS c ORDER BY c ON CONFLICT (customer) DO NOTHING`;
const UPDATE = `INSERT INTO wallets (customer, unit, opened_at, next_grant_at, balance, lots, holds, updated_at)
  SELECT *, $8::bigint FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[])
  ON CONFLICT (customer) DO UPDATE SET unit = excluded.unit, opened_at = excluded.opened_at,
    next_grant_at = excluded.next_grant_at, balance = excluded.balance, lots = excluded.lots,
    holds = excluded.holds, updated_at = excluded.updated_at`;
const LEASES = `SELECT customer, holder, allowance, expires_at AS "expiresAt" FROM wallet_leases
  WHERE customer = ANY($1::text[])`;
const KNOWN = `SELECT customer, id FROM wallet_transactions
  WHERE (customer, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;
const DROP = `DELETE FROM wallet_leases WHERE (customer, holder) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;
const KEEP = `INSERT INTO wallet_leases (customer, holder, allowance, expires_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
  ON CONFLICT (customer, holder) DO UPDATE SET allowance = excluded.allowance, expires_at = excluded.expires_at`;
const LEDGER = `INSERT INTO wallet_transactions
  (id, customer, kind, at, amount, balance_after, bundle_version, lot, entitlement, note)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[],
    $8::text[], $9::text[], $10::text[])
  ON CONFLICT (customer, id) DO NOTHING`;

/**
 * Shared wallets' pools in Postgres (R16): each sync is one transaction that
 * locks the wallets it touches (`SELECT ... ORDER BY customer FOR UPDATE`:
 * in one order, so two engines never deadlock), applies `settlePool` to
 * each, and stores the wallets, their new ledger rows and the caller's
 * leases: a dozen statements whatever the number of wallets. The pool clock
 * is the server's (`clock_timestamp()`), the same for every engine.
 */
export class PgWalletPools {
  private readonly pool: pg.Pool;

  constructor(
    location: PgLocation,
    readonly holder: string,
    readonly params: WalletLeaseParams,
  ) {
    // The driver is loaded when an engine shares wallets, not by every process that imports the engine.
    const { Pool } = requireModule("pg") as typeof import("pg");
    const pool = new Pool({
      connectionString: location.connectionString,
      max: 2,
      connectionTimeoutMillis: 10_000,
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
    });
    // A dropped idle connection is replaced on the next query; it must not crash the process.
    pool.on("error", () => {});
    this.pool = pool;
  }

  /** One sync; `fresh` names customers this engine never synced (their wallet row may not exist yet). */
  async sync(requests: readonly PoolRequest[], fresh: readonly string[] = []): Promise<PoolReply[]> {
    if (requests.length === 0) return [];
    const client = await this.pool.connect();
    try {
      if (fresh.length > 0) await client.query(PLACEHOLDERS, [[...fresh].sort(), Date.now()]);
      await client.query("BEGIN");
      try {
        const replies = await this.locked(client, requests);
        await client.query("COMMIT");
        return replies;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    } finally {
      client.release();
    }
  }

  private async locked(client: pg.PoolClient, requests: readonly PoolRequest[]): Promise<PoolReply[]> {
    const t = await client.query<{ now: number }>(
      "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now",
    );
    const now = Number(t.rows[0]?.now);
    const customers = requests.map((r) => r.customer);
    const rows = new Map<string, WalletRow>();
    for (const r of (await client.query<RawWallet>(WALLETS, [customers])).rows)
      rows.set(r.customer, parse(r));
    const leases = new Map<string, WalletLease[]>();
    for (const l of (
      await client.query<{ customer: string; holder: string; allowance: string; expiresAt: number }>(LEASES, [
        customers,
      ])
    ).rows) {
      const list = leases.get(l.customer) ?? [];
      list.push({ holder: l.holder, allowance: BigInt(l.allowance), expiresAt: Number(l.expiresAt) });
      leases.set(l.customer, list);
    }
    const ic: string[] = [];
    const ids: string[] = [];
    for (const r of requests)
      for (const i of r.intents) {
        ic.push(r.customer);
        ids.push(i.id);
      }
    const known = new Map<string, Set<string>>();
    if (ids.length > 0)
      for (const k of (await client.query<{ customer: string; id: string }>(KNOWN, [ic, ids])).rows) {
        const set = known.get(k.customer) ?? new Set<string>();
        set.add(k.id);
        known.set(k.customer, set);
      }
    const replies: PoolReply[] = [];
    const drop: [string[], string[]] = [[], []];
    const keep: [string[], string[], string[], number[]] = [[], [], [], []];
    const wallets: WalletRow[] = [];
    const ledger: WalletTxRow[] = [];
    for (const req of requests) {
      const c = req.customer;
      const stored = rows.get(c);
      // No row (a wallet this engine thought existed, since deleted) or a placeholder: opened by this sync.
      const row = stored === undefined || stored.unit === "" ? null : stored;
      const out = settlePool(
        this.holder,
        req,
        { row, leases: leases.get(c) ?? [], known: known.get(c) ?? new Set() },
        now,
        this.params,
      );
      for (const h of out.lease === null ? [...out.expired, this.holder] : out.expired) {
        drop[0].push(c);
        drop[1].push(h);
      }
      if (out.lease !== null) {
        keep[0].push(c);
        keep[1].push(this.holder);
        keep[2].push(out.lease.allowance.toString());
        keep[3].push(out.lease.expiresAt);
      }
      wallets.push(out.row);
      for (const r of out.rows) ledger.push(r);
      replies.push(out.reply);
    }
    if (drop[0].length > 0) await client.query(DROP, drop);
    if (keep[0].length > 0) await client.query(KEEP, keep);
    if (wallets.length > 0)
      await client.query(UPDATE, [
        wallets.map((w) => w.customer),
        wallets.map((w) => w.unit),
        wallets.map((w) => w.openedAt),
        wallets.map((w) => w.nextGrantAt),
        wallets.map((w) => w.balance),
        wallets.map((w) => JSON.stringify(w.lots)),
        wallets.map((w) => JSON.stringify(w.holds)),
        now,
      ]);
    if (ledger.length > 0) await client.query(LEDGER, ledgerColumns(ledger));
    return replies;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

interface RawWallet {
  customer: string;
  unit: string;
  openedAt: number;
  nextGrantAt: number | null;
  balance: string;
  lots: string;
  holds: string;
}

function parse(r: RawWallet): WalletRow {
  return {
    customer: r.customer,
    unit: r.unit,
    openedAt: Number(r.openedAt),
    nextGrantAt: r.nextGrantAt === null ? null : Number(r.nextGrantAt),
    balance: r.balance,
    lots: JSON.parse(r.lots),
    holds: JSON.parse(r.holds),
  };
}

function ledgerColumns(rows: readonly WalletTxRow[]): unknown[][] {
  return [
    rows.map((t) => t.id),
    rows.map((t) => t.customer),
    rows.map((t) => t.kind),
    rows.map((t) => t.at),
    rows.map((t) => t.amount),
    rows.map((t) => t.balanceAfter),
    rows.map((t) => t.bundleVersion),
    rows.map((t) => t.lot),
    rows.map((t) => t.entitlement),
    rows.map((t) => t.note),
  ];
}
