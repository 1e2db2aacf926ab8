import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import pg from "pg";
import {
  type AcquireResult,
  LeaseLedger,
  type LeaseParams,
  type LeaseState,
  type PoolTotals,
  type ReturnResult,
} from "../../../core/engine/lease.js";
import type { AcquireRequest, LeasePool } from "../../redis/lease-client.js";
import type { PgLocation } from "./url.js";

/** Ended periods' pools and shares are deleted this long after the period ends. */
const GRACE_MS = 3_600_000;
/** How often (at most) an engine deletes ended periods' rows. */
const PRUNE_EVERY_MS = 600_000;
/** A transaction that lost a deadlock or serialization race is run again, this many times. */
const RETRIES = 5;

/** `total` and `refunds`: the holder's cumulative usage and refunds reported in the pool, this one included. */
type Op =
  | { kind: "acquire"; pool: LeasePool; total: number; refunds: number; request: AcquireRequest }
  | { kind: "report"; pool: LeasePool; total: number; refunds: number; giveBack: number; now?: number };

/** A pool locked by the transaction, with its holders' rows. */
interface Locked {
  counter: string;
  start: number;
  row: { limit: number; consumed: number; outstanding: number };
  ledger: LeaseLedger;
  holders: Map<string, HolderRow>;
}

interface HolderRow {
  holder: string;
  allowance: number;
  expiresAt: number;
  reported: number;
  refunded: number;
}

const SQL = {
  create: `INSERT INTO lease_pools (counter, period_start, period_end, lim, consumed, outstanding)
    SELECT c, s, e, l, b, 0 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[])
      AS u(c, s, e, l, b) ORDER BY c, s
    ON CONFLICT DO NOTHING RETURNING counter, period_start AS "periodStart"`,
  // Locked in one order by every engine: two batches over the same pools never deadlock.
  lock: `SELECT p.counter, p.period_start AS "periodStart", p.lim, p.consumed, p.outstanding,
      floor(extract(epoch from clock_timestamp()) * 1000)::float8 AS now
    FROM lease_pools p JOIN (SELECT DISTINCT c, s FROM unnest($1::text[], $2::bigint[]) AS u(c, s)) u
      ON p.counter = u.c AND p.period_start = u.s
    ORDER BY p.counter, p.period_start FOR UPDATE OF p`,
  holders: `SELECT h.counter, h.period_start AS "periodStart", h.holder, h.allowance, h.expires_at AS "expiresAt",
      h.reported, h.refunded
    FROM lease_holders h JOIN unnest($1::text[], $2::bigint[]) AS u(c, s) ON h.counter = u.c AND h.period_start = u.s`,
  savePools: `UPDATE lease_pools p SET lim = u.l, consumed = u.k, outstanding = u.o
    FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::float8[], $5::float8[]) AS u(c, s, l, k, o)
    WHERE p.counter = u.c AND p.period_start = u.s`,
  saveHolders: `INSERT INTO lease_holders (counter, period_start, holder, allowance, expires_at, reported, refunded)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::bigint[], $6::float8[], $7::float8[])
    ON CONFLICT (counter, period_start, holder) DO UPDATE SET allowance = excluded.allowance,
      expires_at = excluded.expires_at, reported = excluded.reported, refunded = excluded.refunded`,
  // This engine's share is set (a resent sync counts once); the total adds everyone else's.
  shares: `WITH mine AS (
      INSERT INTO counter_shares (counter, period_start, holder, period_end, used)
      SELECT c, s, $1, e, v FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) AS u(c, s, e, v)
      ON CONFLICT (counter, period_start, holder) DO UPDATE SET used = excluded.used
      RETURNING counter, period_start, used)
    SELECT m.counter, m.period_start AS "periodStart", m.used + COALESCE((SELECT sum(x.used) FROM counter_shares x
      WHERE x.counter = m.counter AND x.period_start = m.period_start AND x.holder <> $1), 0) AS total
    FROM mine m`,
  prune: `WITH gone AS (DELETE FROM lease_pools WHERE period_end < $1 RETURNING 1)
    DELETE FROM counter_shares WHERE period_end < $1`,
} as const;

const poolKey = (counter: string, start: number) => `${counter}@${start}`;

/**
 * Quota leases kept in Postgres rows, for engines that share a store without
 * Redis counters: the operations of `RedisLeases` (acquire, report, release,
 * many pools per call), each batch one transaction that locks the pools'
 * rows (`SELECT ... FOR UPDATE`, in one order), runs the operations of
 * {@link LeaseLedger} on them, and writes them back. The pool's clock is the
 * database server's (a request's `now` replaces it, for tests).
 *
 * Exactly once across lost connections: a holder reports its cumulative usage
 * of a pool, not the usage since its last call, so a report whose commit was
 * applied but whose reply was lost (a connection terminated mid-call) and is
 * then sent again within a later one counts once; so do its refunds (a
 * cumulative total too, which takes units off the pool's usage). Likewise each engine's
 * share of a counter's total is set, never added.
 */
export class PgLeases {
  readonly holder: string;
  private readonly pool: pg.Pool;
  /** Cumulative usage and refunds reported per pool (committed, as far as this engine knows), and the period's end. */
  private readonly sent = new Map<string, { total: number; refunds: number; end: number | null }>();
  /** This engine's cumulative share of each counter's total, per pool key. */
  private readonly shares = new Map<string, number>();
  private prunedAt = Date.now();

  constructor(
    location: PgLocation,
    readonly params: LeaseParams,
    options: { holder?: string; applicationName?: string } = {},
  ) {
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.pool = new pg.Pool({
      connectionString: location.connectionString,
      max: 3,
      types: { getTypeParser: asNumber },
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
      connectionTimeoutMillis: 5_000,
      application_name: options.applicationName ?? "limitr-leases",
    });
    // A connection terminated while idle is replaced on the next call; one terminated mid-call fails that call.
    this.pool.on("error", () => {});
    this.pool.on("connect", (client) => client.on("error", () => {}));
  }

  /** Checks the database answers (a store that is down is reported in status, and decisions wait). */
  async connect(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  /** Reclaim expired leases, report what each holder consumed, and take slices (`granted`, possibly 0). */
  async acquireMany(
    items: readonly { pool: LeasePool; request: AcquireRequest }[],
  ): Promise<AcquireResult[]> {
    const ops: Op[] = items.map((i) => ({
      kind: "acquire",
      pool: i.pool,
      request: i.request,
      total: this.total(i.pool, i.request.consumed ?? 0),
      refunds: this.refunds(i.pool, i.request.refunded ?? 0),
    }));
    return (await this.run(ops)) as AcquireResult[];
  }

  /** Report, give back up to `giveBack` (Infinity: everything, a release) and renew, per pool. */
  async reportMany(
    items: readonly {
      pool: LeasePool;
      consumed: number;
      giveBack: number;
      now?: number;
      refunded?: number;
    }[],
  ): Promise<ReturnResult[]> {
    const ops: Op[] = items.map((i) => ({
      kind: "report",
      pool: i.pool,
      giveBack: i.giveBack,
      now: i.now,
      total: this.total(i.pool, i.consumed),
      refunds: this.refunds(i.pool, i.refunded ?? 0),
    }));
    return (await this.run(ops)) as ReturnResult[];
  }

  /** Report and give every unconsumed unit back (a graceful close). */
  async releaseMany(
    items: readonly { pool: LeasePool; consumed: number; now?: number; refunded?: number }[],
  ): Promise<ReturnResult[]> {
    return this.reportMany(items.map((i) => ({ ...i, giveBack: Number.POSITIVE_INFINITY })));
  }

  /** A pool's totals as stored (tests, status). */
  async totals(pool: LeasePool): Promise<PoolTotals> {
    const p = await this.pool.query<{ lim: number; consumed: number; outstanding: number }>(
      "SELECT lim, consumed, outstanding FROM lease_pools WHERE counter = $1 AND period_start = $2",
      [pool.counter, pool.periodStart],
    );
    const h = await this.pool.query<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM lease_holders WHERE counter = $1 AND period_start = $2 AND allowance > 0
         AND expires_at > floor(extract(epoch from clock_timestamp()) * 1000)`,
      [pool.counter, pool.periodStart],
    );
    const row = p.rows[0];
    return {
      limit: row?.lim ?? 0,
      consumed: row?.consumed ?? 0,
      outstanding: row?.outstanding ?? 0,
      holders: h.rows[0]?.n ?? 0,
    };
  }

  /**
   * Add each counter's `delta` (usage this engine counted since its last
   * sync) to the shared total; resolves to the totals, in order.
   */
  async addTotals(
    items: readonly { counter: string; periodStart: number; periodEnd: number | null; delta: number }[],
  ): Promise<number[]> {
    if (items.length === 0) return [];
    const shares = new Map<string, number>();
    const c: string[] = [];
    const s: number[] = [];
    const e: (number | null)[] = [];
    const v: number[] = [];
    for (const i of items) {
      const key = poolKey(i.counter, i.periodStart);
      const share = (shares.get(key) ?? this.shares.get(key) ?? 0) + i.delta;
      if (!shares.has(key)) {
        c.push(i.counter);
        s.push(i.periodStart);
        e.push(i.periodEnd);
      }
      shares.set(key, share);
    }
    for (let k = 0; k < c.length; k++) v.push(shares.get(poolKey(c[k] as string, s[k] as number)) as number);
    const r = await this.pool.query<{ counter: string; periodStart: number; total: number }>(SQL.shares, [
      this.holder,
      c,
      s,
      e,
      v,
    ]);
    for (const [key, share] of shares) this.shares.set(key, share);
    const totals = new Map(r.rows.map((row) => [poolKey(row.counter, row.periodStart), row.total]));
    void this.prune();
    return items.map((i) => totals.get(poolKey(i.counter, i.periodStart)) ?? Number.NaN);
  }

  /** The cumulative usage to report for `pool` with `consumed` more. */
  private total(pool: LeasePool, consumed: number): number {
    if (!(consumed >= 0) || !Number.isFinite(consumed))
      throw new RangeError(`lease report: consumed must be a finite number >= 0, got ${consumed}`);
    return (this.sent.get(poolKey(pool.counter, pool.periodStart))?.total ?? 0) + consumed;
  }

  /** The cumulative refunds to report for `pool` with `refunded` more. */
  private refunds(pool: LeasePool, refunded: number): number {
    if (!(refunded >= 0) || !Number.isFinite(refunded))
      throw new RangeError(`lease report: refunded must be a finite number >= 0, got ${refunded}`);
    return (this.sent.get(poolKey(pool.counter, pool.periodStart))?.refunds ?? 0) + refunded;
  }

  private async run(ops: Op[]): Promise<LeaseState[]> {
    if (ops.length === 0) return [];
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.transaction(ops);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt + 1 >= RETRIES || (code !== "40P01" && code !== "40001")) throw err;
      }
    }
  }

  private async transaction(ops: Op[]): Promise<LeaseState[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const create = ops.filter((o) => o.kind === "acquire");
      // Pools this transaction creates start from `base`, which already nets the refunds.
      const created = new Set<string>();
      if (create.length > 0) {
        const made = await client.query<{ counter: string; periodStart: number }>(SQL.create, [
          create.map((o) => o.pool.counter),
          create.map((o) => o.pool.periodStart),
          create.map((o) => o.pool.periodEnd),
          create.map((o) => (o.kind === "acquire" ? o.request.limit : 0)),
          create.map((o) => (o.kind === "acquire" ? (o.request.base ?? 0) : 0)),
        ]);
        for (const r of made.rows) created.add(poolKey(r.counter, r.periodStart));
      }
      const cols = [ops.map((o) => o.pool.counter), ops.map((o) => o.pool.periodStart)];
      const locked = await client.query<{
        counter: string;
        periodStart: number;
        lim: number;
        consumed: number;
        outstanding: number;
        now: number;
      }>(SQL.lock, cols);
      const rows = await client.query<HolderRow & { counter: string; periodStart: number }>(
        SQL.holders,
        cols,
      );
      const now = locked.rows[0]?.now ?? Date.now();
      const pools = new Map<string, Locked>();
      for (const p of locked.rows) {
        pools.set(poolKey(p.counter, p.periodStart), {
          counter: p.counter,
          start: p.periodStart,
          row: { limit: p.lim, consumed: p.consumed, outstanding: p.outstanding },
          ledger: null as unknown as LeaseLedger,
          holders: new Map(),
        });
      }
      for (const h of rows.rows) pools.get(poolKey(h.counter, h.periodStart))?.holders.set(h.holder, h);
      // A pool's scale (a spend cap counts nanos of money) sizes its slices in whole units.
      const scales = new Map(
        ops.map((op) => [poolKey(op.pool.counter, op.pool.periodStart), op.pool.scale ?? 1]),
      );
      for (const [key, p] of pools) {
        const leases = [...p.holders.values()].map((h) => [h.holder, h.allowance, h.expiresAt] as const);
        const scale = scales.get(key) ?? 1;
        const params =
          scale === 1
            ? this.params
            : {
                ...this.params,
                minSlice: this.params.minSlice * scale,
                maxSlice: this.params.maxSlice * scale,
              };
        p.ledger = LeaseLedger.restore(params, { ...p.row, leases });
      }
      const out: LeaseState[] = [];
      for (const op of ops)
        out.push(this.apply(op, pools.get(poolKey(op.pool.counter, op.pool.periodStart)), now, created));
      await this.save(client, pools);
      await client.query("COMMIT");
      for (const op of ops) {
        const key = poolKey(op.pool.counter, op.pool.periodStart);
        if (pools.has(key))
          this.sent.set(key, { total: op.total, refunds: op.refunds, end: op.pool.periodEnd });
      }
      return out;
    } catch (err) {
      broken = err as Error;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      // A connection that failed mid-transaction is discarded, never reused.
      client.release(broken);
    }
  }

  /** One operation on a locked pool (undefined: no such pool, so nothing to report on). */
  private apply(op: Op, pool: Locked | undefined, now: number, created: ReadonlySet<string>): LeaseState {
    if (pool === undefined)
      return { returned: 0, allowance: 0, remainder: 0, holders: 0, expiresAt: 0 } as ReturnResult;
    const mine = pool.holders.get(this.holder);
    const reported = mine?.reported ?? 0;
    const refunded = mine?.refunded ?? 0;
    // Usage (and refunds) a lost reply's commit already recorded is not counted again.
    const delta = Math.max(0, op.total - reported);
    const back = created.has(poolKey(pool.counter, pool.start)) ? 0 : Math.max(0, op.refunds - refunded);
    const r =
      op.kind === "acquire"
        ? pool.ledger.acquire({
            holder: this.holder,
            now: op.request.now ?? now,
            limit: op.request.limit,
            consumed: delta,
            need: op.request.need,
            rate: op.request.rate,
            base: op.request.base,
            refunded: back,
          })
        : pool.ledger.report(this.holder, delta, op.giveBack, op.now ?? now, back);
    pool.holders.set(this.holder, {
      holder: this.holder,
      allowance: r.allowance,
      expiresAt: r.expiresAt,
      reported: Math.max(reported, op.total),
      refunded: Math.max(refunded, op.refunds),
    });
    return r;
  }

  private async save(client: pg.PoolClient, pools: Map<string, Locked>): Promise<void> {
    const p: [string[], number[], number[], number[], number[]] = [[], [], [], [], []];
    const h: [string[], number[], string[], number[], number[], number[], number[]] = [
      [],
      [],
      [],
      [],
      [],
      [],
      [],
    ];
    for (const { ledger, holders, counter, start } of pools.values()) {
      const s = ledger.stored();
      if (s === null) continue;
      p[0].push(counter);
      p[1].push(start);
      p[2].push(s.limit);
      p[3].push(s.consumed);
      p[4].push(s.outstanding);
      const live = new Map(
        s.leases.map(([holder, allowance, expiresAt]) => [holder, [allowance, expiresAt]]),
      );
      for (const row of holders.values()) {
        const lease = live.get(row.holder);
        h[0].push(counter);
        h[1].push(start);
        h[2].push(row.holder);
        // A reclaimed lease keeps its row (its cumulative report) with nothing held.
        h[3].push(lease?.[0] ?? 0);
        h[4].push(lease?.[1] ?? 0);
        h[5].push(row.reported);
        h[6].push(row.refunded);
      }
    }
    if (p[0].length === 0) return;
    await client.query(SQL.savePools, p);
    await client.query(SQL.saveHolders, h);
  }

  /** Delete the rows of periods that ended more than an hour ago (at most every ten minutes). */
  private async prune(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    try {
      await this.pool.query(SQL.prune, [now - GRACE_MS]);
      for (const [key, { end }] of this.sent) if (end !== null && end < now - GRACE_MS) this.sent.delete(key);
    } catch {
      // Next time: old rows only take room.
    }
  }
}

function asNumber(oid: number, format?: "text" | "binary") {
  return oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC
    ? (v: string) => Number(v)
    : pg.types.getTypeParser(oid, format);
}
