import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitrInProcess as cli } from "../cli/run-cli.js";
import { pgQuery } from "../helpers/pg-schema.js";
import { sharedStoreResources } from "../helpers/shared-store.js";
import { REDIS_URL } from "../redis/redis-helpers.js";

/**
 * Wallets and spend caps shared by engines in separate OS processes on one
 * Postgres store (SPEC §11-12, R16): funds leased from the wallet row, caps
 * leased through Redis; never overdrawn, ledger == balance, top-ups from
 * another process spendable, a killed engine's slice back after its TTL.
 */
const WORKER = fileURLToPath(new URL("./shared-wallet-worker.mjs", import.meta.url));
const POLICIES = fileURLToPath(new URL("../../policies", import.meta.url));
const shared = sharedStoreResources("limitr_sharedwallet");
const { fresh, prefixed } = shared;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Same as the worker's "wallet" policy (0.013 USD a call, 1 USD reserve, a 0.5 USD daily cap on search + lookup). */
const walletPolicy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  currency: "USD",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    payg: {
      default: true,
      wallet: { unit: "USD", minimum: 1 },
      caps: { daily: { amount: 0.5, period: "day", entitlements: ["search", "lookup"] } },
      entitlements: {
        paid: { meter: "calls", mode: "prepaid", price: { model: "per_unit", unit_price: 0.013 } },
        search: {
          meter: "calls",
          mode: "soft",
          limit: 1_000_000,
          price: { model: "per_unit", unit_price: 0.03 },
        },
        lookup: {
          meter: "calls",
          mode: "soft",
          limit: 1_000_000,
          price: { model: "per_unit", unit_price: 0.02 },
        },
      },
    },
  },
});

interface SpendResult {
  allowed: number;
  costs: string[];
  reasons: Record<string, number>;
  lastError: string | null;
}

type Job = Record<string, unknown>;

/** Start workers, wait until the spending ones are ready, then let them all go at once. */
async function race(prefix: string, jobs: Job[]): Promise<unknown[]> {
  const children: ResultPromise[] = jobs.map((job) =>
    execa(process.execPath, [WORKER, JSON.stringify(job)], { reject: false }),
  );
  while (Number((await shared.redis.get(`${prefix}ready`)) ?? 0) < jobs.length) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`an engine process ended early: ${(await dead).stderr}`);
    await sleep(20);
  }
  await shared.redis.set(`${prefix}go`, "1");
  return (await Promise.all(children)).map((r) => {
    expect(r.exitCode, String(r.stderr)).toBe(0);
    return JSON.parse(String(r.stdout).trim().split("\n").at(-1) as string);
  });
}

/** Exact sum of decimal strings (12 places at most), as a BigInt of 1e-12. */
function atoms(values: readonly string[]): bigint {
  let n = 0n;
  for (const v of values) {
    const [w, f = ""] = v.replace("-", "").split(".");
    const a = BigInt(w as string) * 10n ** 12n + BigInt(f.padEnd(12, "0"));
    n += v.startsWith("-") ? -a : a;
  }
  return n;
}
const usd = (s: string) => atoms([s]);

async function ledger(schema: string, customer: string) {
  const rows = await pgQuery<{
    id: string;
    kind: string;
    amount: string;
    balance_after: string;
    note: string | null;
  }>(
    "SELECT id, kind, amount, balance_after, note FROM wallet_transactions WHERE customer = $1 ORDER BY seq",
    [customer],
    schema,
  );
  const [w] = await pgQuery<{ balance: string }>(
    "SELECT balance FROM wallets WHERE customer = $1",
    [customer],
    schema,
  );
  const leases = await pgQuery<{ holder: string; allowance: string }>(
    "SELECT holder, allowance FROM wallet_leases WHERE customer = $1",
    [customer],
    schema,
  );
  return { rows, balance: w?.balance ?? null, leases };
}

/** Seed a wallet with a top-up from an engine in this process (it creates the schema too). */
async function seed(url: string, prefix: string, customer: string, amount: string): Promise<void> {
  const e = await Limitr.open({
    policy: walletPolicy,
    store: url,
    counters: REDIS_URL,
    countersPrefix: prefix,
    alerts: false,
  });
  e.topUp(customer, amount, { id: "seed" });
  await e.close();
}

describe("R16 R17 a wallet shared by two engines in one process", () => {
  it("decides from a leased slice (lease_pending while it is fetched), holds funds for reservations, and shows the other engine's debits after a sync", async () => {
    const s = fresh();
    const prefix = prefixed();
    await seed(s.url, prefix, "acme", "3.00");
    const open = () =>
      Limitr.open({
        policy: walletPolicy,
        store: s.url,
        counters: REDIS_URL,
        countersPrefix: prefix,
        alerts: false,
      });
    const a = await open();
    const b = await open();
    // No slice yet: a synchronous call is denied while one is fetched; the async one waits for it.
    expect(a.decide("acme", "paid", 1).reason).toBe("lease_pending");
    expect((await a.decideAsync("acme", "paid", 1)).allowed).toBe(true);
    expect((await b.decideAsync("acme", "paid", 1, { id: "call-1" })).allowed).toBe(true);
    // The same id on the other engine is allowed there (each engine knows its own ids) and debited once.
    expect((await a.decideAsync("acme", "paid", 1, { id: "call-1" })).allowed).toBe(true);
    let hold = a.reserve("acme", "paid", 10);
    if (hold === null) {
      await a.decideAsync("acme", "paid", 0);
      await a.flush();
      hold = a.reserve("acme", "paid", 10);
    }
    expect(hold).not.toBeNull();
    expect(a.settle(hold as NonNullable<typeof hold>, 4).allowed).toBe(true);
    b.adjust("acme", "-0.5", { id: "fix-1", note: "goodwill reversed" });
    await a.flush();
    await b.flush();
    await a.flush();
    // 3 - 2 x 0.013 (a first call, call-1 once) - 4 x 0.013 (settled) - 0.5
    expect(a.balance("acme").balance).toBe("2.422");
    expect(b.transactions("acme").some((t) => t.id === "fix-1")).toBe(true);
    await a.close();
    await b.close();
    const l = await ledger(s.name, "acme");
    expect(l.balance).toBe("2.422");
    expect(l.rows.filter((r) => r.id === "call-1").length).toBe(1);
    expect(atoms(l.rows.map((r) => r.amount))).toBe(usd("2.422"));
    expect(l.leases).toEqual([]);
  }, 30_000);
});

describe("R16 wallets and spend caps shared by engines in separate processes", () => {
  it("R16 R17 three processes debiting one wallet never overdraw it; the ledger sums to the balance", async () => {
    const s = fresh();
    const prefix = prefixed();
    await seed(s.url, prefix, "acme", "3.00");
    const job = {
      pg: s.url,
      redis: REDIS_URL,
      prefix,
      mode: "spend",
      customer: "acme",
      calls: ["paid"],
      ms: 15_000,
    };

    const runs = (await race(prefix, [job, job, job])) as SpendResult[];
    for (const r of runs) expect(r.lastError).toBeNull();
    const allowed = runs.reduce((n, r) => n + r.allowed, 0);
    const spent = atoms(runs.flatMap((r) => r.costs));
    // 2.00 available above the 1.00 reserve: 153 calls of 0.013 at most; slivers below one call may stay in a slice.
    expect(allowed).toBeLessThanOrEqual(153);
    expect(allowed).toBeGreaterThanOrEqual(150);
    expect(spent).toBe(usd("0.013") * BigInt(allowed));
    expect(runs.filter((r) => r.allowed > 0).length).toBeGreaterThanOrEqual(2);
    const l = await ledger(s.name, "acme");
    const debits = l.rows.filter((r) => r.kind === "debit");
    expect(debits.length).toBe(allowed);
    // Every debit paid in full (no shortfall notes), never below the reserve, and the ledger is the balance.
    expect(l.rows.filter((r) => r.note !== null)).toEqual([]);
    for (const r of l.rows) expect(usd(r.balance_after) >= usd("1")).toBe(true);
    expect(atoms(l.rows.map((r) => r.amount))).toBe(usd(l.balance as string));
    expect(usd(l.balance as string)).toBe(usd("3") - spent);
    expect(l.leases).toEqual([]);
  }, 30_000);

  it("R16 R18 a spend cap over two entitlements, spent by two processes, allows at most the cap", async () => {
    const s = fresh();
    const prefix = prefixed();
    await seed(s.url, prefix, "acme", "1.00");
    const job = {
      pg: s.url,
      redis: REDIS_URL,
      prefix,
      mode: "spend",
      customer: "acme",
      calls: ["search", "lookup"],
      ms: 15_000,
    };
    const runs = (await race(prefix, [job, job])) as SpendResult[];
    const spent = atoms(runs.flatMap((r) => r.costs));
    expect(spent <= usd("0.5")).toBe(true);
    expect(spent >= usd("0.45")).toBe(true);
    expect(runs.some((r) => (r.reasons.cap_exceeded ?? 0) > 0)).toBe(true);
    // A fresh engine reads the cap's spend from the shared totals: what the processes spent.
    const e = await Limitr.open({
      policy: walletPolicy,
      store: s.url,
      counters: REDIS_URL,
      countersPrefix: prefix,
      alerts: false,
    });
    e.caps("acme");
    await e.flush();
    const [cap] = e.caps("acme");
    expect(usd(cap?.spent as string)).toBe(spent);
    await e.close();
  }, 30_000);

  it("R16 R17 a top-up from another process is spendable, credited once", async () => {
    const s = fresh();
    const prefix = prefixed();
    await seed(s.url, prefix, "acme", "1.13");
    const base = { pg: s.url, redis: REDIS_URL, prefix, customer: "acme" };
    const [spender, first, again] = await race(prefix, [
      { ...base, mode: "spend", calls: ["paid"], ms: 15_000, after: "topped", afterCount: 2 },
      { ...base, mode: "topup", amount: "1.30", id: "order-7", delay: 800 },
      { ...base, mode: "topup", amount: "1.30", id: "order-7", delay: 900 },
    ]);
    // 0.13 then 1.30 above the reserve: exactly 10 + 100 calls, whichever engine the top-up went through.
    expect((spender as SpendResult).allowed).toBe(110);
    expect(first).toMatchObject({ done: true });
    expect(again).toMatchObject({ done: true });
    const l = await ledger(s.name, "acme");
    expect(l.rows.filter((r) => r.kind === "credit").map((r) => [r.id, r.amount])).toEqual([
      ["seed", "1.13"],
      ["order-7", "1.3"],
    ]);
    expect(l.balance).toBe("1");
    expect(atoms(l.rows.map((r) => r.amount))).toBe(usd("1"));
  }, 30_000);

  it("R16 a slice stranded by a process killed with SIGKILL is spendable again after the lease TTL", async () => {
    const s = fresh();
    const prefix = prefixed();
    await seed(s.url, prefix, "acme", "3.00");
    const holder = execa(
      process.execPath,
      [
        WORKER,
        JSON.stringify({
          pg: s.url,
          redis: REDIS_URL,
          prefix,
          mode: "hold",
          customer: "acme",
          calls: ["paid"],
          hold: 5,
          walletLease: { ttlMs: 1000, minSlice: "0.5" },
        }),
      ],
      { reject: false },
    );
    let line = "";
    holder.stdout?.on("data", (d: Buffer) => {
      line += d.toString();
    });
    while (!line.includes("ready")) {
      if (holder.exitCode !== null) throw new Error(`the holder ended early: ${(await holder).stderr}`);
      await sleep(20);
    }
    const stranded = await ledger(s.name, "acme");
    expect(stranded.leases.length).toBe(1);
    expect(usd(stranded.leases[0]?.allowance as string) > 0n).toBe(true);
    holder.kill("SIGKILL");
    await holder;
    const e = await Limitr.open({
      policy: walletPolicy,
      store: s.url,
      counters: REDIS_URL,
      countersPrefix: prefix,
      alerts: false,
      walletLease: { ttlMs: 1000 },
    });
    const started = Date.now();
    let allowed = 0;
    let reason = "";
    while (Date.now() - started < 5000) {
      const d = await e.decideAsync("acme", "paid", 1);
      if (d.allowed) allowed++;
      else {
        reason = d.reason;
        // Denied while the stranded slice is still leased: wait for its TTL.
        if ((await ledger(s.name, "acme")).leases.length === 0) break;
        await sleep(100);
      }
    }
    // 153 calls fit above the reserve: the holder's 5 (written before the kill) and all the rest here.
    while ((await e.decideAsync("acme", "paid", 1)).allowed) allowed++;
    expect(allowed + 5).toBe(153);
    expect(reason).toBe("insufficient_balance");
    await e.close();
    const l = await ledger(s.name, "acme");
    expect(l.leases).toEqual([]);
    expect(l.rows.filter((r) => r.kind === "debit").length).toBe(153);
    expect(atoms(l.rows.map((r) => r.amount))).toBe(usd(l.balance as string));
  }, 30_000);

  it("R16 the example policy's payg plan (grant wallet and daily cap) served by two engines; a CLI top-up reaches them", async () => {
    const s = fresh();
    const prefix = prefixed();
    const setup = await Limitr.open({
      policy: POLICIES,
      store: s.url,
      counters: REDIS_URL,
      countersPrefix: prefix,
      alerts: false,
    });
    setup.setPlan("walkin", "payg");
    await setup.close();
    const job = {
      pg: s.url,
      redis: REDIS_URL,
      prefix,
      policy: "payg",
      policyDir: POLICIES,
      mode: "spend",
      customer: "walkin",
      calls: ["chat_input"],
      amount: 10_000,
      ms: 15_000,
      after: "topped",
    };
    const running = race(prefix, [job, job]);
    while (!(await shared.redis.exists(`${prefix}go`))) await sleep(20);
    await sleep(300);
    // A top-up from the CLI while both engines spend, sent twice with one id.
    const topup = [
      "balances",
      "topup",
      "walkin",
      "2.00",
      "--id",
      "order-1",
      "--db",
      s.url,
      "--policies",
      POLICIES,
    ];
    const first = await cli([...topup, "--format", "json"]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).transaction).toMatchObject({
      id: "order-1",
      kind: "credit",
      amount: "2",
    });
    const again = await cli(topup);
    expect(again.stdout).toMatch(/already recorded: nothing changed/);
    await shared.redis.incr(`${prefix}topped`);
    const runs = (await running) as SpendResult[];
    for (const r of runs) expect(r.lastError).toBeNull();
    const spent = atoms(runs.flatMap((r) => r.costs));
    // The month's 5 USD grant and the 2 USD top-up at 0.04 a call (10,000 tokens at 0.000004): 175 calls at most.
    expect(spent <= usd("7")).toBe(true);
    expect(spent >= usd("6.9")).toBe(true);
    expect(runs.some((r) => (r.reasons.insufficient_balance ?? 0) > 0)).toBe(true);
    const l = await ledger(s.name, "walkin");
    expect(l.rows.filter((r) => r.kind === "grant").map((r) => r.amount)).toEqual(["5"]);
    expect(l.rows.filter((r) => r.kind === "credit").map((r) => r.id)).toEqual(["order-1"]);
    expect(atoms(l.rows.map((r) => r.amount))).toBe(usd(l.balance as string));
    expect(usd(l.balance as string)).toBe(usd("7") - spent);
    expect(l.rows.filter((r) => r.note !== null)).toEqual([]);
  }, 30_000);
});
