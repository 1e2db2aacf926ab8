import { describe, expect, it } from "vitest";
import { type LeasePool, RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { PgLeases } from "../../src/engine/adapters/store/postgres/pg-leases.js";
import { parseLocation } from "../../src/engine/adapters/store/postgres/url.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { LEASE_DEFAULTS, ROW_LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { pgQuery } from "../helpers/pg-schema.js";
import { sharedStoreResources } from "../helpers/shared-store.js";
import { REDIS_URL } from "../redis/redis-helpers.js";

/**
 * Refunds on a shared store (SPEC R5, R16): a negative amount gives its
 * units back to the pool every engine leases from, so another engine may
 * allow them, exactly to the unit and never past the limit; a refund resent
 * after a lost reply gives them back once (holders report running totals).
 */
const shared = sharedStoreResources("limitr_refunds");
const { fresh, prefixed } = shared;

const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 10, mode: "hard" } } } },
});

type Kind = "postgres+redis" | "postgres+rows";

async function pair(
  kind: Kind,
): Promise<{ a: Limitr; b: Limitr; prefix: string | null; schema: string; url: string }> {
  const s = fresh();
  const prefix = kind === "postgres+redis" ? prefixed() : null;
  const open = () =>
    Limitr.open({
      policy,
      store: s.url,
      ...(prefix === null ? {} : { counters: REDIS_URL, countersPrefix: prefix }),
    });
  const a = await open();
  const b = await open();
  return { a, b, prefix, schema: s.name, url: s.url };
}

/** The pool's usage as stored: Redis hash or Postgres row (consumed, outstanding). */
async function poolOf(kind: Kind, prefix: string | null, schema: string) {
  if (kind === "postgres+redis") {
    const keys = await shared.redis.keys(`${prefix}lease:*:pool`);
    expect(keys).toHaveLength(1);
    const [consumed, outstanding] = await shared.redis.hmget(keys[0] as string, "consumed", "outstanding");
    return { consumed: Number(consumed), outstanding: Number(outstanding) };
  }
  const rows = await pgQuery<{ consumed: number; outstanding: number }>(
    "SELECT consumed, outstanding FROM lease_pools",
    [],
    schema,
  );
  expect(rows).toHaveLength(1);
  return rows[0] as { consumed: number; outstanding: number };
}

async function allowMany(engine: Limitr, n: number): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(await engine.allowAsync("acme", "api", 1));
  return out;
}

describe("R5 R16 refunds on a shared store", () => {
  for (const kind of ["postgres+redis", "postgres+rows"] as const) {
    it(`R16 one engine's refund lets another allow exactly that much more, never past the limit [${kind}]`, async () => {
      const { a, b, prefix, schema, url } = await pair(kind);
      try {
        expect(await allowMany(a, 10)).toEqual(Array(10).fill(true));
        expect(await b.decideAsync("acme", "api", 1)).toMatchObject({
          allowed: false,
          reason: "limit_exceeded",
        });
        expect(a.decide("acme", "api", -4)).toMatchObject({ allowed: true, used: 6 });
        // The refund is in the pool once A's calls land; B's counter sees it at its next totals sync.
        await a.flush();
        await b.flush();
        // Exactly the four refunded units, to the unit, and to whichever engine asks.
        expect(await allowMany(b, 5)).toEqual([true, true, true, true, false]);
        expect(await a.allowAsync("acme", "api", 1)).toBe(false);
        await a.flush();
        await b.flush();
        await a.flush();
        expect(a.usage("acme", "api")).toMatchObject({ used: 10 });
        expect(b.usage("acme", "api")).toMatchObject({ used: 10 });

        // A refund by an engine that never leased the pool gives back what the counter drops by
        // (its usage, seen through the shared totals), and no more: here 10 of the 25 asked.
        await b.close();
        const c = await Limitr.open({
          policy,
          store: url,
          ...(prefix === null ? {} : { counters: REDIS_URL, countersPrefix: prefix }),
        });
        try {
          await c.flush();
          expect(c.usage("acme", "api")).toMatchObject({ used: 10 });
          expect(c.decide("acme", "api", -25)).toMatchObject({ allowed: true, used: 0 });
          await c.flush();
          await a.flush();
          expect(await allowMany(a, 11)).toEqual([...Array(10).fill(true), false]);
        } finally {
          await c.close();
        }
        await a.close();
        // Every unit allowed is counted once, every refunded one given back once: 10 + 4 + 10 allowed, 14 refunded.
        expect(await poolOf(kind, prefix, schema)).toEqual({ consumed: 10, outstanding: 0 });
      } finally {
        await a.close().catch(() => {});
        await b.close().catch(() => {});
      }
    });
  }

  it("R16 a refund resent after a lost reply gives its units back once; a pool's usage never goes below zero [Redis]", async () => {
    const prefix = prefixed();
    const pool: LeasePool = { counter: "acme|api", periodStart: 0, periodEnd: null };
    const holder = "h1";
    const first = new RedisLeases(shared.redis, {
      prefix: `${prefix}lease:`,
      params: LEASE_DEFAULTS,
      holder,
    });
    const totals = () => first.totals(pool);
    expect((await first.acquire(pool, { limit: 10, need: 10, rate: 0 })).granted).toBe(10);
    await first.report(pool, 10, 0);
    expect(await totals()).toMatchObject({ consumed: 10, outstanding: 0 });
    await first.report(pool, 0, 0, undefined, 4);
    expect(await totals()).toMatchObject({ consumed: 6 });
    // The same holder whose reply was lost: it sends the same running total again.
    const resent = new RedisLeases(shared.redis, {
      prefix: `${prefix}lease:`,
      params: LEASE_DEFAULTS,
      holder,
    });
    await resent.report(pool, 0, 0, undefined, 4);
    expect(await totals()).toMatchObject({ consumed: 6 });
    await first.report(pool, 0, 0, undefined, 1);
    expect(await totals()).toMatchObject({ consumed: 5 });
    await first.report(pool, 0, 0, undefined, 100);
    expect(await totals()).toMatchObject({ consumed: 0, outstanding: 0 });
    // What a refund past zero "gave" does not exist: a new acquire still sees the limit, not more.
    const r = await first.acquire(pool, { limit: 10, need: 10, rate: 0 });
    expect(r.granted).toBe(10);
    expect(r.remainder).toBe(0);
  });

  it("R16 a refund resent after a lost reply gives its units back once; a pool's usage never goes below zero [Postgres rows]", async () => {
    const s = fresh();
    // The store's tables (lease_pools, lease_holders) come with the engine's migrations.
    const engine = await Limitr.open({ policy, store: s.url });
    await engine.close();
    const location = parseLocation(s.url);
    const pool: LeasePool = { counter: "acme|api", periodStart: 0, periodEnd: null };
    const first = new PgLeases(location, ROW_LEASE_DEFAULTS, { holder: "h1" });
    const resent = new PgLeases(location, ROW_LEASE_DEFAULTS, { holder: "h1" });
    try {
      const totals = () => first.totals(pool);
      const [r0] = await first.acquireMany([{ pool, request: { limit: 10, need: 10, rate: 0 } }]);
      expect(r0?.granted).toBe(10);
      await first.reportMany([{ pool, consumed: 10, giveBack: 0 }]);
      expect(await totals()).toMatchObject({ consumed: 10, outstanding: 0 });
      await first.reportMany([{ pool, consumed: 0, giveBack: 0, refunded: 4 }]);
      expect(await totals()).toMatchObject({ consumed: 6 });
      // Usage reported with the lost reply counts once too (the holder's row keeps both totals).
      await resent.reportMany([{ pool, consumed: 10, giveBack: 0, refunded: 4 }]);
      expect(await totals()).toMatchObject({ consumed: 6 });
      await first.reportMany([{ pool, consumed: 0, giveBack: 0, refunded: 1 }]);
      expect(await totals()).toMatchObject({ consumed: 5 });
      await first.reportMany([{ pool, consumed: 0, giveBack: 0, refunded: 100 }]);
      expect(await totals()).toMatchObject({ consumed: 0, outstanding: 0 });
      const [r] = await first.acquireMany([{ pool, request: { limit: 10, need: 10, rate: 0 } }]);
      expect(r?.granted).toBe(10);
      expect(r?.remainder).toBe(0);
    } finally {
      await first.close();
      await resent.close();
    }
  });

  it("R16 a pool created by a call that carries refunds starts from its base, which nets them already [Redis]", async () => {
    const prefix = prefixed();
    const pool: LeasePool = { counter: "acme|api", periodStart: 0, periodEnd: null };
    const leases = new RedisLeases(shared.redis, {
      prefix: `${prefix}lease:`,
      params: LEASE_DEFAULTS,
      holder: "h1",
    });
    const r = await leases.acquire(pool, { limit: 10, need: 0, rate: 0, base: 7, refunded: 3 });
    expect(r.granted + r.remainder).toBe(3);
    expect(await leases.totals(pool)).toMatchObject({ consumed: 7 });
  });
});
