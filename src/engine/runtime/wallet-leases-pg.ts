import type pg from "pg";
import { createPool } from "../adapters/store/postgres/connection.js";
import type { PgLocation } from "../adapters/store/postgres/url.js";
import type { WalletRow, WalletTxRow } from "../core/wallet/store-rows.js";
import {
  type PoolReply,
  type PoolRequest,
  settlePool,
  type WalletLease,
  type WalletLeaseParams,
} from "./wallet-pool.js";

const WALLET = `SELECT customer, unit, opened_at AS "openedAt", next_grant_at AS "nextGrantAt", balance, lots, holds
  FROM wallets WHERE customer = $1 FOR UPDATE`;
const PLACEHOLDER = `INSERT INTO wallets (customer, unit, opened_at, next_grant_at, balance, lots, holds, updated_at)
  VALUES ($1, $2, $3, NULL, '0', '[]', '[]', $3) ON CONFLICT (customer) DO NOTHING`;
const UPDATE = `UPDATE wallets SET unit = $2, opened_at = $3, next_grant_at = $4, balance = $5, lots = $6,
  holds = $7, updated_at = $8 WHERE customer = $1`;
const LEASES = `SELECT holder, allowance, expires_at AS "expiresAt" FROM wallet_leases WHERE customer = $1`;
const KNOWN = "SELECT id FROM wallet_transactions WHERE customer = $1 AND id = ANY($2::text[])";
const DROP = "DELETE FROM wallet_leases WHERE customer = $1 AND holder = ANY($2::text[])";
const KEEP = `INSERT INTO wallet_leases (customer, holder, allowance, expires_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (customer, holder) DO UPDATE SET allowance = excluded.allowance, expires_at = excluded.expires_at`;
const LEDGER = `INSERT INTO wallet_transactions
  (id, customer, kind, at, amount, balance_after, bundle_version, lot, entitlement, note)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[],
    $8::text[], $9::text[], $10::text[])
  ON CONFLICT (customer, id) DO NOTHING`;

/**
 * Shared wallets' pools in Postgres (R16): each sync is one transaction that
 * locks the wallets it touches (`SELECT ... FOR UPDATE`, in customer order so
 * two engines never deadlock), applies `settlePool` to each, and stores the
 * wallet, its new ledger rows and the caller's lease. The pool clock is the
 * server's (`clock_timestamp()`), the same for every engine.
 */
export class PgWalletPools {
  private readonly pool: pg.Pool;

  constructor(
    location: PgLocation,
    readonly holder: string,
    readonly params: WalletLeaseParams,
  ) {
    this.pool = createPool(location);
  }

  async sync(requests: readonly PoolRequest[]): Promise<PoolReply[]> {
    if (requests.length === 0) return [];
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      try {
        const t = await client.query<{ now: number }>(
          "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now",
        );
        const now = Number(t.rows[0]?.now);
        const order = [...requests.keys()].sort((a, b) =>
          (requests[a] as PoolRequest).customer < (requests[b] as PoolRequest).customer ? -1 : 1,
        );
        const replies: PoolReply[] = new Array(requests.length);
        for (const i of order) replies[i] = await this.one(client, requests[i] as PoolRequest, now);
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

  private async one(client: pg.PoolClient, req: PoolRequest, now: number): Promise<PoolReply> {
    const c = req.customer;
    let rows = (await client.query<RawWallet>(WALLET, [c])).rows;
    let row: WalletRow | null = null;
    if (rows.length === 0) {
      // Created by this call (the row locks it until commit), or by another engine in the meantime.
      const created = (await client.query(PLACEHOLDER, [c, req.terms.unit, now])).rowCount === 1;
      rows = (await client.query<RawWallet>(WALLET, [c])).rows;
      if (!created && rows[0] !== undefined) row = parse(rows[0]);
    } else row = parse(rows[0] as RawWallet);
    const leases = (await client.query<{ holder: string; allowance: string; expiresAt: number }>(LEASES, [c]))
      .rows;
    const ids = req.intents.map((i) => i.id);
    const known =
      ids.length === 0
        ? new Set<string>()
        : new Set((await client.query<{ id: string }>(KNOWN, [c, ids])).rows.map((r) => r.id));
    const out = settlePool(
      this.holder,
      req,
      {
        row,
        leases: leases.map(
          (l): WalletLease => ({
            holder: l.holder,
            allowance: BigInt(l.allowance),
            expiresAt: Number(l.expiresAt),
          }),
        ),
        known,
      },
      now,
      this.params,
    );
    const drop = out.lease === null ? [...out.expired, this.holder] : out.expired;
    if (drop.length > 0) await client.query(DROP, [c, drop]);
    if (out.lease !== null)
      await client.query(KEEP, [c, this.holder, out.lease.allowance.toString(), out.lease.expiresAt]);
    const w = out.row;
    await client.query(UPDATE, [
      c,
      w.unit,
      w.openedAt,
      w.nextGrantAt,
      w.balance,
      JSON.stringify(w.lots),
      JSON.stringify(w.holds),
      now,
    ]);
    if (out.rows.length > 0) await client.query(LEDGER, ledgerColumns(out.rows));
    return out.reply;
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
