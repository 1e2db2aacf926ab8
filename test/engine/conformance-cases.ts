/**
 * Engine conformance, the runner: every folder in fixtures/engine/ is a case
 * with a small policy and a script of timed calls with their expected
 * results. conformance.<kind>.test.ts runs every case on one store kind (one
 * file per kind, so vitest runs the kinds in parallel): the in-memory store,
 * a real SQLite file, a Postgres schema of its own (`postgres`: an
 * `exclusive` engine, one engine on the store as with SQLite;
 * `durability: sync` cases skip Postgres, which refuses it), and a shared
 * Postgres store with its hard limits leased from Redis (`postgres+redis`)
 * or from the store's rows (`postgres+rows`). A `restart` step closes the
 * engine and opens a new one on the same store.
 *
 * On a shared store every expected result is the one of an engine's own
 * store; the runner only waits, as a running service's ticks would: for a
 * call's lease slice (limits: `warm`; wallets: a sync), and, on a case with
 * wallets, for the sync that opens, writes and reads back the wallets
 * between two steps and before a step reads a balance or the ledger. Refunds
 * give allowance back to the shared pool (docs/scale.md, Refunds). A case a
 * shared store cannot run is skipped with the reason in the test name
 * (`sharedSkip`): `durability: sync`, refused on Postgres, and a hard limit on
 * a sliding window, leased from Redis only.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { Hold } from "../../src/engine/core/engine/decision.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { isSliding } from "../../src/engine/core/periods/spec.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import type { Durability } from "../../src/engine/runtime/options.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { dropPrefix, REDIS_URL, connect as redisConnect, testPrefix } from "../redis/redis-helpers.js";

/**
 * `postgres` is an exclusive engine; the two shared kinds open a store any
 * number of engines may share, with its hard limits leased from Redis
 * (`postgres+redis`: `counters`) or from the store's rows (`postgres+rows`).
 */
export type StoreKind = "memory" | "sqlite" | "postgres" | "postgres+redis" | "postgres+rows";
const SHARED: StoreKind[] = ["postgres+redis", "postgres+rows"];
const root = join(import.meta.dirname, "../../fixtures/engine");

interface Step {
  op: string;
  now?: string;
  customer?: string;
  entitlement?: string;
  amount?: number;
  id?: string;
  properties?: Record<string, string | number | boolean>;
  ttlMs?: number;
  as?: string;
  hold?: string;
  actual?: number;
  plan?: string;
  /** setPlan: the add-on plans held from `at` on (absent = keep those held). */
  addOns?: string[];
  at?: string;
  event?: Record<string, unknown>;
  /** Wallet steps: a decimal amount, top-up expiry, priority and note. */
  value?: string | number;
  expires?: string;
  priority?: number;
  note?: string;
  from?: string;
  to?: string;
  expect?: unknown;
}

interface Script {
  rule: string;
  stores?: StoreKind[];
  durability?: Durability;
  now: string;
  steps: Step[];
}

const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Epoch ms fields become ISO text so expectations stay readable. */
function iso(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const k of ["resetsAt", "expiresAt", "periodStart", "periodEnd", "at"]) {
    const v = out[k];
    if (typeof v === "number" && Number.isFinite(v)) out[k] = new Date(v).toISOString();
  }
  return out;
}

function check(actual: unknown, expected: unknown, label: string): void {
  if (expected === undefined) return;
  if (expected !== null && typeof expected === "object")
    expect(actual, label).toMatchObject(expected as object);
  else expect(actual, label).toEqual(expected);
}

/**
 * How a case's engine reads the time: `injected` passes the script's clock as
 * the `now` option (read on every call); `wall` fakes the wall clock (Date)
 * instead, so `allow()` reads it through its tick clock and takes its fast
 * path (Decider.quick) wherever a call allows it. Each step then starts in a
 * new synchronous run, as requests do, so a reading never outlives its step.
 */
export type ClockKind = "injected" | "wall";

async function run(name: string, store: StoreKind, clock: ClockKind = "injected"): Promise<void> {
  const dir = join(root, name);
  const policy = compilePolicy(parse(readFileSync(join(dir, "policy.yaml"), "utf8"))) as CompiledPolicy;
  const script = parse(readFileSync(join(dir, "script.yaml"), "utf8")) as Script;
  const tmp = mkdtempSync(join(tmpdir(), "limitr-conf-"));
  const dbPath = join(tmp, "usage.db");
  const memory = new MemoryEngineStore();
  const schema = store.startsWith("postgres") ? pgSchema("limitr_conf") : null;
  const shared = SHARED.includes(store);
  const wallets =
    Object.values(policy.plans).some((p) => p.wallet !== undefined) ||
    Object.values(policy.customers).some((c) => c.wallet !== undefined);
  const prefix = store === "postgres+redis" ? testPrefix() : undefined;
  let now = Date.parse(script.now);
  const wall = clock === "wall";
  if (wall) {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now);
    cleanups.push(() => {
      vi.useRealTimers();
    });
  }
  const openEngine = () =>
    Limitr.open({
      policy,
      store: store === "memory" ? memory : schema !== null ? schema.url : `sqlite:${dbPath}`,
      exclusive: store === "postgres",
      durability: script.durability ?? "batched",
      ...(wall ? {} : { now: () => now }),
      ...(prefix === undefined ? {} : { counters: REDIS_URL, countersPrefix: prefix }),
    });
  let engine = await openEngine();
  const notices: Record<string, unknown>[] = [];
  const listen = (e: Limitr) => {
    for (const kind of ["denied", "overage", "threshold"] as const) {
      e.on(kind, (payload) => notices.push({ event: kind, ...(iso(payload) as object) }));
    }
  };
  listen(engine);
  cleanups.push(async () => {
    await engine.close().catch(() => engine.closeSync());
    rmSync(tmp, { recursive: true, force: true });
    await schema?.drop();
    if (prefix !== undefined) {
      const redis = await redisConnect();
      await dropPrefix(redis, prefix);
      redis.disconnect();
    }
  });
  const holds = new Map<string, Hold>();

  for (const [i, step] of script.steps.entries()) {
    if (step.now !== undefined) now = Date.parse(step.now);
    if (wall) {
      vi.setSystemTime(now);
      await Promise.resolve();
    }
    const label = `step ${i + 1} (${step.op})`;
    const c = step.customer as string;
    const e = step.entitlement as string;
    const opts = { id: step.id, properties: step.properties };
    // Shared counters: a synchronous call on a counter whose lease slice cannot cover it answers
    // lease_pending while the slice is fetched. Warm it first, as a running service's leases are.
    if (
      shared &&
      c !== undefined &&
      e !== undefined &&
      ["allow", "decide", "check", "reserve"].includes(step.op)
    )
      await warm(engine, c, e, step.amount, opts, label, wallets);
    // A shared wallet's figures are the store's as of the last sync, with this engine's changes
    // since: wait for the sync, which applies grants and expiries due by now, as a service's tick does.
    if (shared && (step.op === "balance" || step.op === "transactions")) {
      // The engine syncs the wallets it has seen: a first look at one (after a restart) comes first.
      try {
        engine.balance(c);
      } catch {
        // No wallet: the step's own call says so.
      }
      await engine.flush();
    }
    switch (step.op) {
      case "allow":
        check(engine.allow(c, e, step.amount, opts), step.expect, label);
        break;
      case "decide":
        check(iso(engine.decide(c, e, step.amount, opts)), step.expect, label);
        break;
      case "check":
        check(iso(engine.check(c, e, step.amount, opts)), step.expect, label);
        break;
      case "usage":
        check(iso(engine.usage(c, e)), step.expect, label);
        break;
      case "caps":
        check(engine.caps(c).map(iso), step.expect, label);
        break;
      case "reserve": {
        const hold = engine.reserve(c, e, step.amount ?? 1, { ttlMs: step.ttlMs });
        if (hold && step.as) holds.set(step.as, hold);
        check(iso(hold), step.expect, label);
        break;
      }
      case "settle":
        check(
          iso(engine.settle(holds.get(step.hold as string) as Hold, step.actual ?? 0)),
          step.expect,
          label,
        );
        break;
      case "release":
        check(engine.release(holds.get(step.hold as string) as Hold), step.expect, label);
        break;
      case "setPlan":
        engine.setPlan(c, step.plan as string, {
          ...(step.at === undefined ? {} : { at: step.at }),
          ...(step.addOns === undefined ? {} : { addOns: step.addOns }),
        });
        break;
      case "record":
        check(engine.record(step.event as never), step.expect, label);
        break;
      case "balance":
        check(engine.balance(c), step.expect, label);
        break;
      case "topUp":
        check(
          engine.topUp(c, step.value as string, {
            ...(step.id === undefined ? {} : { id: step.id }),
            ...(step.expires === undefined ? {} : { expiresAt: step.expires }),
            ...(step.priority === undefined ? {} : { priority: step.priority }),
            ...(step.note === undefined ? {} : { note: step.note }),
          }),
          step.expect,
          label,
        );
        break;
      case "adjust":
        check(
          engine.adjust(c, step.value as string, { note: step.note ?? "", id: step.id }),
          step.expect,
          label,
        );
        break;
      case "transactions": {
        const txs = engine.transactions(c, { from: step.from, to: step.to });
        // R17: whatever the script checks, the balance is the sum of the whole ledger.
        if (step.from === undefined && step.to === undefined)
          expect(sumOf(txs.map((t) => t.amount)), `${label} ledger sum`).toBe(
            Number(engine.balance(c).balance),
          );
        check(
          txs.map((t) => ({ kind: t.kind, amount: t.amount, balanceAfter: t.balanceAfter, id: t.id })),
          step.expect,
          label,
        );
        break;
      }
      case "restart":
        await engine.close();
        engine = await openEngine();
        listen(engine);
        break;
      case "notices":
        check(notices.splice(0), step.expect, label);
        break;
      case "stored": {
        await engine.flush();
        const count =
          schema !== null
            ? ((await pgQuery<{ n: number }>("SELECT count(*)::int AS n FROM events", [], schema.name))[0]
                ?.n ?? 0)
            : storedEvents(store, memory, dbPath);
        check({ count }, step.expect, label);
        break;
      }
      default:
        throw new Error(`${name}: unknown op ${step.op}`);
    }
    // A shared wallet is opened, written and read back by a sync, every tick in a running service
    // (so within a tick of a call in wall time); between two steps, as much wall time may pass.
    if (shared && wallets) await engine.flush();
  }
}

/**
 * Until `check` no longer answers lease_pending: the acquire it queued has
 * landed (the slice, or the pool seen exhausted). `check` counts nothing.
 */
async function warm(
  engine: Limitr,
  customer: string,
  entitlement: string,
  amount: number | undefined,
  opts: { id?: string; properties?: Record<string, string | number | boolean> },
  label: string,
  wallets: boolean,
): Promise<void> {
  const until = Date.now() + 5_000;
  while (
    engine.check(customer, entitlement, amount, { properties: opts.properties }).reason === "lease_pending"
  ) {
    if (Date.now() > until)
      throw new Error(
        `${label}: no lease slice for ${customer}/${entitlement} after 5 s: ${JSON.stringify(engine.status())}`,
      );
    // A wallet's slice comes with a sync: wait for one (a denial it answers is cached for a tick only).
    if (wallets) await engine.flush();
    else await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Why a case cannot run on a shared store (every engine sharing its limits),
 * or null. These are refused at open on a shared store, by design for now.
 */
function sharedSkip(policy: CompiledPolicy, script: Script, store: StoreKind): string | null {
  if (script.durability === "sync") return "durability sync is refused on Postgres";
  const plans = Object.values(policy.plans);
  for (const p of plans)
    for (const e of Object.values(p.entitlements))
      if (
        store !== "postgres+redis" &&
        e.kind === "metered" &&
        e.mode === "hard" &&
        e.limit !== null &&
        isSliding(e.period)
      )
        return "a hard limit on a sliding window is leased from Redis only: leases from the store's rows refuse it";
  return null;
}

/** Sum of decimal strings, exact for the few decimal places fixtures use. */
function sumOf(amounts: string[]): number {
  return amounts.reduce((a, b) => Math.round((a + Number(b)) * 1e9) / 1e9, 0);
}

/** Count stored events the way a CLI reader would: a separate read-only connection, not blocked by the engine. */
function storedEvents(store: StoreKind, memory: MemoryEngineStore, dbPath: string): number {
  if (store === "memory") return memory.events().length;
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM events").pluck().get() as number;
  } finally {
    db.close();
  }
}

/**
 * The conformance cases of one store kind (one test file per kind, so vitest
 * runs the kinds in parallel): every case whose script runs on `store`, or a
 * skipped test naming the reason it cannot.
 */
export function conformance(store: StoreKind, clock: ClockKind = "injected"): void {
  const kind = clock === "wall" ? `${store}, wall clock` : store;
  describe(`engine conformance (fixtures/engine) [${kind}]`, () => {
    for (const name of cases) {
      const script = parse(readFileSync(join(root, name, "script.yaml"), "utf8")) as Script;
      if (!SHARED.includes(store)) {
        const all: StoreKind[] =
          script.durability === "sync" ? ["memory", "sqlite"] : ["memory", "sqlite", "postgres"];
        if ((script.stores ?? all).includes(store))
          it(`${script.rule} [${kind}]`, () => run(name, store, clock));
        continue;
      }
      if (script.stores !== undefined && !script.stores.includes("postgres")) continue;
      const policy = compilePolicy(parse(readFileSync(join(root, name, "policy.yaml"), "utf8")));
      const skip = sharedSkip(policy, script, store);
      if (skip !== null) it.skip(`${script.rule} [${store}] (skipped: ${skip})`, () => {});
      else it(`${script.rule} [${store}]`, () => run(name, store));
    }
  });
}
