import { afterAll, describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { dropPrefix, REDIS_URL, connect as redisConnect, testPrefix } from "../redis/redis-helpers.js";

/**
 * The engine on a Postgres store (SPEC §11): decisions from memory, events
 * written behind to Postgres, counters and plans read back at open. Each test
 * has its own schema and Redis key prefix.
 */
const schemas: { drop: () => Promise<void> }[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  for (const s of schemas) await s.drop();
  const redis = await redisConnect();
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function fresh(): { name: string; url: string } {
  const s = pgSchema("limitr_pgengine");
  schemas.push(s);
  return s;
}

function prefix(): string {
  const p = testPrefix();
  prefixes.push(p);
  return p;
}

const soft = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: { default: true, entitlements: { api: { meter: "calls", limit: 1000, mode: "soft" } } },
    pro: { entitlements: { api: { meter: "calls", limit: 5000, mode: "soft" } } },
  },
});

const hard = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 10, mode: "hard" } } } },
});

describe("Limitr.open on postgres://", () => {
  it("writes events behind (idempotent by id) and reloads counters and plans at reopen", async () => {
    const s = fresh();
    const a = await Limitr.open({ policy: soft, store: s.url, alerts: false });
    for (let i = 0; i < 25; i++) expect(a.allow("acme", "api", 1, { id: `e${i}` })).toBe(true);
    // A repeated id counts once (R13).
    expect(a.decide("acme", "api", 1, { id: "e3" }).reason).toBe("duplicate");
    a.setPlan("globex", "pro", { at: Date.UTC(2026, 0, 1) });
    await a.flush();
    expect(a.status().storeHealth).toMatchObject({ reachable: true, bufferedEvents: 0, writtenEvents: 25 });
    await a.close();

    const events = await pgQuery<{ n: number; ids: number }>(
      "SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM events WHERE customer = 'acme'",
      [],
      s.name,
    );
    expect(events[0]).toEqual({ n: 25, ids: 25 });
    const stamped = await pgQuery<{ v: number }>(
      "SELECT DISTINCT bundle_version AS v FROM events",
      [],
      s.name,
    );
    expect(stamped).toHaveLength(1);

    const b = await Limitr.open({ policy: soft, store: s.url, alerts: false });
    expect(b.usage("acme", "api").used).toBe(25);
    expect(b.usage("globex", "api").limit).toBe(5000);
    // The ids written before are remembered: a retried call is still a duplicate after the restart.
    expect(b.decide("acme", "api", 1, { id: "e7" }).reason).toBe("duplicate");
    await b.close();
  }, 30_000);

  it("without Redis counters, hard limits are leased from the store's rows; sync durability is refused with a clear error", async () => {
    const s = fresh();
    const limitr = await Limitr.open({ policy: hard, store: s.url, alerts: false });
    // The first call on a shared counter has no slice yet: lease_pending, and allowAsync waits for one.
    expect(limitr.decide("acme", "api", 1).reason).toBe("lease_pending");
    let allowed = 0;
    for (let i = 0; i < 15; i++) if (await limitr.allowAsync("acme", "api", 1)) allowed++;
    expect(allowed).toBe(10);
    expect(limitr.status().counters).toMatchObject({
      url: expect.stringMatching(/^postgres:\/\/.*schema=/),
      reachable: true,
      lastError: null,
    });
    await limitr.close();
    const pools = await pgQuery<{ consumed: number; outstanding: number }>(
      "SELECT consumed, outstanding FROM lease_pools WHERE counter = 'acme|api'",
      [],
      s.name,
    );
    expect(pools).toEqual([{ consumed: 10, outstanding: 0 }]);
    const sliding = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: {
        free: {
          default: true,
          entitlements: { api: { meter: "calls", limit: 10, mode: "hard", period: { sliding: "PT1H" } } },
        },
      },
    });
    await expect(Limitr.open({ policy: sliding, store: s.url })).rejects.toThrow(
      /free\.api has a sliding window.*exclusive: true/,
    );
    await expect(Limitr.open({ policy: soft, store: s.url, durability: "sync" })).rejects.toThrow(
      /durability "sync".*batched/,
    );
  }, 30_000);

  it("an exclusive engine keeps hard limits and wallets itself; a second engine on the store is refused", async () => {
    const s = fresh();
    const walletPolicy = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      currency: "USD",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: {
        payg: {
          default: true,
          wallet: { unit: "USD" },
          entitlements: {
            api: { meter: "calls", limit: 10, mode: "hard" },
            paid: { meter: "calls", mode: "prepaid", price: { model: "per_unit", unit_price: 0.5 } },
          },
        },
      },
    });
    // Shared engines lease the wallet from the store (pg-shared-wallets.e2e.test.ts) and the hard limit from its rows.
    const shared = await Limitr.open({ policy: walletPolicy, store: s.url, alerts: false });
    await expect(Limitr.open({ policy: walletPolicy, store: s.url, exclusive: true })).rejects.toThrow(
      /open in another limitr engine/,
    );
    await shared.close();
    const a = await Limitr.open({ policy: walletPolicy, store: s.url, exclusive: true, alerts: false });
    await expect(Limitr.open({ policy: soft, store: s.url })).rejects.toThrow(
      /held by an engine opened with exclusive/,
    );
    await expect(Limitr.open({ policy: walletPolicy, store: s.url, exclusive: true })).rejects.toThrow(
      /open in another limitr engine/,
    );
    let allowed = 0;
    for (let i = 0; i < 12; i++) if (a.allow("acme", "api")) allowed++;
    expect(allowed).toBe(10);
    a.topUp("acme", "2.00", { id: "t1" });
    expect(a.decide("acme", "paid", 3).allowed).toBe(true);
    expect(a.decide("acme", "paid", 2).reason).toBe("insufficient_balance");
    await a.close();
    const b = await Limitr.open({ policy: walletPolicy, store: s.url, exclusive: true, alerts: false });
    expect(b.usage("acme", "api").used).toBe(10);
    expect(b.balance("acme").balance).toBe("0.5");
    expect(b.transactions("acme").map((t) => t.kind)).toEqual(["credit", "debit"]);
    await b.close();
    const ledger = await pgQuery<{ n: number }>(
      "SELECT count(*)::int AS n FROM wallet_transactions",
      [],
      s.name,
    );
    expect(ledger[0]?.n).toBe(2);
  }, 30_000);

  it("with Redis counters, hard limits work and status reports the store", async () => {
    const s = fresh();
    const limitr = await Limitr.open({
      policy: hard,
      store: s.url,
      counters: REDIS_URL,
      countersPrefix: prefix(),
      alerts: false,
    });
    let allowed = 0;
    for (let i = 0; i < 15; i++) if (await limitr.allowAsync("acme", "api", 1)) allowed++;
    expect(allowed).toBe(10);
    await limitr.flush();
    const st = limitr.status();
    expect(st.store).toMatch(/^postgres:\/\//);
    expect(st.pendingEvents).toBe(0);
    expect(st.storeHealth).toMatchObject({ reachable: true, bufferedEvents: 0, lastError: null });
    await limitr.close();
    const n = await pgQuery<{ n: number }>("SELECT count(*)::int AS n FROM events", [], s.name);
    expect(n[0]?.n).toBe(10);
  }, 30_000);
});
