/**
 * Engine throughput: allow() over 10,000 customers x 5 entitlements (mixed
 * hard/soft/observe, limits high enough that calls are allowed) on the memory
 * store, SQLite batched and SQLite sync, against rate-limiter-flexible's
 * RateLimiterMemory.consume on the same key set, a reference loop (Date.now(), two map
 * lookups, a compare and an increment per call; also timed without its Date.now()), the
 * least a metered decision does on the engine's memory layout (`minimalMeteredLoop`), and
 * raw inserts of the same event rows into a SQLite file of the store's schema (for sync,
 * also commits of an event row and its counter row, the least a synchronous call writes).
 * Each figure and its baselines run in rounds, one after another within a round, and a
 * ratio is the median of the rounds' ratios (`rounds[name]` in the JSON line holds them).
 * Prints one JSON summary line.
 *
 * Throughput is operations per second of CPU time consumed by this process
 * (user + system, GC threads included), so a machine shared with other work
 * does not halve the figures; wall-clock rates are printed on stderr. The
 * latency percentiles are wall-clock times of single calls (see `latency`):
 * a call that triggers a write-behind flush is one of them (p99.9 and max
 * show those).
 *
 *   npx tsx bench/engine.bench.ts        (or BENCH_ONLY=engine npm run bench)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { SqliteEngineStore } from "../src/engine/adapters/store/engine-store.js";
import { compilePolicy } from "../src/engine/core/compile.js";
import { Limitr } from "../src/engine/runtime/limitr.js";
import type { LimitrOptions } from "../src/engine/runtime/options.js";

const CUSTOMERS = 10_000;
const ENTITLEMENTS = ["e0", "e1", "e2", "e3", "e4"];
const MODES = ["hard", "soft", "hard", "soft", "observe"];

const policySource = {
  limitr: 1,
  name: "bench",
  timezone: "UTC",
  meters: Object.fromEntries(
    ENTITLEMENTS.map((e) => [`m_${e}`, { event: `bench.${e}`, aggregation: "count" }]),
  ),
  plans: {
    standard: {
      default: true,
      entitlements: Object.fromEntries(
        ENTITLEMENTS.map((e, i) => [e, { meter: `m_${e}`, limit: 1e9, period: "month", mode: MODES[i] }]),
      ),
    },
  },
};
const policy = compilePolicy(policySource);

/** The same policy with live alert rules on every entitlement (they never fire: limits are high). */
const policyWithAlerts = compilePolicy({
  ...policySource,
  alerts: {
    ...Object.fromEntries(
      ENTITLEMENTS.map((e) => [`${e}-80`, { when: "usage_percent >= 80", entitlement: e }]),
    ),
    burn: { when: "projected_percent >= 150" },
  },
});

const customers = Array.from({ length: CUSTOMERS }, (_, i) => `cust-${i}`);
// A fixed pseudo-random call order (xorshift), so every run and every contender sees the same keys.
const ORDER_SIZE = 1 << 20;
const order = new Uint32Array(ORDER_SIZE);
let x = 2463534242;
for (let i = 0; i < ORDER_SIZE; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  order[i] = (x >>> 0) % (CUSTOMERS * ENTITLEMENTS.length);
}
const custOf = Array.from(order, (k) => customers[k % CUSTOMERS] as string);
const entOf = Array.from(order, (k) => ENTITLEMENTS[Math.floor(k / CUSTOMERS)] as string);
const MASK = ORDER_SIZE - 1;

const tmp = mkdtempSync(join(tmpdir(), "limitr-bench-"));

async function engine(
  store: LimitrOptions["store"],
  durability: LimitrOptions["durability"],
  withAlerts = false,
): Promise<Limitr> {
  const l = await Limitr.open({ policy: withAlerts ? policyWithAlerts : policy, store, durability });
  // Resolve every slot once, as a warmed-up service would have.
  for (const c of customers) for (const e of ENTITLEMENTS) l.check(c, e);
  return l;
}

/**
 * ops/s of allow() calls run in chunks of `chunk` until `seconds` have passed,
 * including the flushes they trigger and a final flush.
 */
/**
 * Run `chunk(j)`, which makes `size` calls starting at key index `j`, until
 * `seconds` have passed; returns the CPU-time rate (see `rate`).
 */
async function timed(
  seconds: number,
  size: number,
  offset: number,
  chunk: (j: number) => unknown,
  finish?: () => Promise<void>,
): Promise<number> {
  let n = 0;
  let j = offset & MASK;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const stop = t0 + BigInt(Math.round(seconds * 1e9));
  do {
    await chunk(j);
    // Let the event loop turn between chunks, as a service's would between requests: the
    // engine's timers (write-behind, live alert evaluation) run inside the measurement.
    await new Promise((resolve) => setImmediate(resolve));
    j = (j + size) & MASK;
    n += size;
  } while (process.hrtime.bigint() < stop);
  await finish?.();
  return rate(n, t0, cpu0);
}

/** allow() calls in chunks, including the flushes they trigger and a final flush. */
async function throughput(l: Limitr, size: number, seconds: number, offset: number): Promise<number> {
  let denied = 0;
  const cpuRate = await timed(
    seconds,
    size,
    offset,
    (j) => {
      for (let i = 0; i < size; i++, j = (j + 1) & MASK) {
        if (!l.allow(custOf[j] as string, entOf[j] as string)) denied++;
      }
    },
    () => l.flush(),
  );
  if (denied > 0) throw new Error(`bench policy denied ${denied} calls; raise the limits`);
  return cpuRate;
}

/** Records the wall-clock rate for stderr and returns the CPU-time rate. */
const wall: Record<string, number[]> = {};
let current = "";
function rate(n: number, t0: bigint, cpu0: NodeJS.CpuUsage): number {
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  (wall[current] ??= []).push(Math.round((n / wallNs) * 1e9));
  return Math.round((n / (cpu.user + cpu.system)) * 1e6);
}

/**
 * Percentiles of the time of single allow() calls: each call is timed on its
 * own (performance.now() before and after), and the cost of the clock read,
 * measured the same way around nothing in the same run, is subtracted (its
 * median). Flushes stay in the samples: they are the calls in the far tail.
 */
function latency(l: Limitr, calls: number): Record<"p50" | "p99" | "p999" | "max" | "clock", number> {
  const clock = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    clock[i] = performance.now() - t0;
  }
  const samples = new Float64Array(calls);
  let j = 0;
  for (let i = 0; i < calls; i++, j = (j + 1) & MASK) {
    const c = custOf[j] as string;
    const e = entOf[j] as string;
    const t0 = performance.now();
    l.allow(c, e);
    samples[i] = performance.now() - t0;
  }
  clock.sort();
  samples.sort();
  const overhead = clock[calls >> 1] as number;
  const at = (q: number) =>
    Math.max(
      0,
      Math.round(((samples[Math.min(calls - 1, Math.floor(calls * q))] as number) - overhead) * 1e6),
    );
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1), clock: Math.round(overhead * 1e6) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const results: Record<string, number> = {};
/** Each round's ratio of the figures that are medians of rounds (see `medianRatio`), for stderr and the JSON line. */
const perRound: Record<string, number[]> = {};
/** The policy digest the engine stamps on its event rows (R14); the raw baselines store the same. */
let storedDigest = "";
let p50ns = 0;
let clockNs = 0;

{
  const l = await engine("memory", "batched");
  const la = await engine("memory", "batched", true);
  const reference = referenceLoops();
  const minimal = minimalMeteredLoop();
  const peer = rateLimiterFlexible();
  await throughput(l, 100_000, 1, 0); // JIT warm-up
  await throughput(la, 100_000, 1, 0);
  await reference.run(0.5, 0);
  await reference.runNoClock(0.5, 0);
  await minimal(0.5, 0);
  await peer(0.5, 0);
  // Every contender runs once a round, one after another, so a change in the machine's speed
  // (frequent on a shared VM) falls on all of them alike; the ratios are medians of the rounds'
  // ratios. The rules' cost is inside the alerts figure: they are evaluated on their timer
  // between chunks and at the flush that ends a run.
  const got = await rounds(5, {
    allow: ["memory", (r) => throughput(l, 100_000, 1, r * 7919)],
    alerts: ["memory with alert rules", (r) => throughput(la, 100_000, 1, r * 7919)],
    reference: [
      "reference: Date.now(), two lookups, a compare and an increment",
      (r) => reference.run(1, r * 7919),
    ],
    noClock: ["reference without Date.now()", (r) => reference.runNoClock(1, r * 7919)],
    minimal: ["minimal metered decision", (r) => minimal(1, r * 7919)],
    peer: ["rate-limiter-flexible", (r) => peer(1, r * 7919)],
  });
  if (reference.refused() > 0) throw new Error("the reference loop refused a call");
  results.allow_memory_ops_s = median(got.allow);
  results.allow_memory_alerts_ops_s = median(got.alerts);
  results.alerts_overhead_pct = Math.round((1 - medianRatio(got.alerts, got.allow)) * 1000) / 10;
  results.reference_loop_ops_s = median(got.reference);
  results.reference_no_clock_ops_s = median(got.noClock);
  results.minimal_metered_ops_s = median(got.minimal);
  results.peer_rlf_memory_ops_s = median(got.peer);
  compare("allow_vs_reference", got.allow, got.reference);
  compare("allow_vs_reference_no_clock", got.allow, got.noClock);
  compare("allow_vs_minimal_metered", got.allow, got.minimal);
  compare("minimal_metered_vs_reference", got.minimal, got.reference);
  compare("allow_vs_peer", got.allow, got.peer);
  const lat = latency(l, 1_000_000);
  results.allow_p99_ns = lat.p99;
  results.allow_p999_ns = lat.p999;
  results.allow_max_ns = lat.max;
  p50ns = lat.p50;
  clockNs = lat.clock;
  // The Check -> Call -> Record pattern's two calls: check() builds a full Decision with its
  // exact marginal price; record() matches the event against the plan's meters.
  const typeOf = new Map(ENTITLEMENTS.map((e) => [e, `bench.${e}`]));
  const checkRuns: number[] = [];
  const recordRuns: number[] = [];
  for (let r = 0; r < 3; r++) {
    current = "check()";
    checkRuns.push(
      await timed(1, 10_000, r * 7919, (j) => {
        for (let i = 0; i < 10_000; i++, j = (j + 1) & MASK) l.check(custOf[j] as string, entOf[j] as string);
      }),
    );
    current = "record()";
    recordRuns.push(
      await timed(
        1,
        10_000,
        r * 7919,
        (j) => {
          for (let i = 0; i < 10_000; i++, j = (j + 1) & MASK)
            l.record({ type: typeOf.get(entOf[j] as string) as string, customer: custOf[j] as string });
        },
        () => l.flush(),
      ),
    );
  }
  results.check_memory_ops_s = median(checkRuns);
  results.record_memory_ops_s = median(recordRuns);
  await l.close();
  await la.close();
}

{
  const l = await engine(`sqlite:${join(tmp, "batched.db")}`, "batched");
  storedDigest = l.activePolicy().digest;
  const raw = rawInserts(join(tmp, "raw.db"));
  await throughput(l, 50_000, 0.5, 0);
  await raw.batched(0.5, 0);
  const got = await rounds(3, {
    engine: ["sqlite batched", (r) => throughput(l, 50_000, 1.5, r * 7919)],
    raw: ["raw inserts, 10,048 a transaction", (r) => raw.batched(1.5, r * 7919)],
  });
  results.allow_sqlite_batched_ops_s = median(got.engine);
  results.raw_sqlite_batched_ops_s = median(got.raw);
  compare("sqlite_batched_vs_raw", got.engine, got.raw);
  await l.close();

  const s = await engine(`sqlite:${join(tmp, "sync.db")}`, "sync");
  await throughput(s, 1_000, 0.3, 0);
  await raw.single(0.3, 0);
  await raw.pair(0.3, 0);
  const sync = await rounds(3, {
    engine: ["sqlite sync", (r) => throughput(s, 1_000, 1, r * 7919)],
    single: ["raw inserts, one a transaction", (r) => raw.single(1, r * 7919)],
    pair: ["raw event and counter rows, one pair a transaction", (r) => raw.pair(1, r * 7919)],
  });
  results.allow_sqlite_sync_ops_s = median(sync.engine);
  results.raw_sqlite_commit_ops_s = median(sync.single);
  results.raw_sqlite_commit_counter_ops_s = median(sync.pair);
  compare("sqlite_sync_vs_raw", sync.engine, sync.single);
  compare("sqlite_sync_vs_raw_counter", sync.engine, sync.pair);
  compare("raw_counter_vs_raw", sync.pair, sync.single);
  await s.close();
  raw.close();
}

/**
 * Run each contender once a round, one after another, for `n` rounds; the
 * CPU-time rates by contender, in round order. `contenders` maps a name to
 * its label on stderr and its run (given the round number).
 */
async function rounds<K extends string>(
  n: number,
  contenders: Record<K, [label: string, run: (round: number) => Promise<number>]>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(contenders) as K[];
  const out = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < n; r++)
    for (const k of names) {
      const [label, run] = contenders[k];
      current = label;
      out[k].push(await run(r));
    }
  return out;
}

/** a[r] / b[r] for each round r, to two decimals. */
function roundRatios(a: number[], b: number[]): number[] {
  return a.map((x, r) => Math.round((x / (b[r] as number)) * 100) / 100);
}

/** The median of the rounds' ratios (steadier on a shared machine than the ratio of the medians). */
function medianRatio(a: number[], b: number[]): number {
  return median(roundRatios(a, b));
}

/** `results[name]`: the median of the rounds' ratios a / b; `perRound[name]`: each round's. */
function compare(name: string, a: number[], b: number[]): void {
  perRound[name] = roundRatios(a, b);
  results[name] = median(perRound[name]);
}

/**
 * The raw-insert baselines of the SQLite figures: the rows allow() stores (one
 * event row a call, as the store writes them: 64 rows a statement), inserted
 * straight into a store file of the same schema. Batched: 10,048 rows a
 * transaction (about a batch's size); sync: one row a transaction, and (the
 * least a synchronous call commits) one event row and one counter upsert a
 * transaction. No decision; no counters but in the last. The rows are the
 * engine's: an id of its shape (a 12-hex-digit engine prefix and a base-36
 * sequence number), the value 1 of a counted call and the active policy's
 * digest (`storedDigest`, set before the first run).
 */
function rawInserts(file: string) {
  const raw = new SqliteEngineStore(file);
  const head =
    "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties, bundle_version, bundle_digest) VALUES";
  const one = raw.db.prepare(`${head} (?,?,?,?,?,?,?,?)`);
  const many = raw.db.prepare(`${head} ${Array.from({ length: 64 }, () => "(?,?,?,?,?,?,?,?)").join(",")}`);
  let seq = 0;
  const prefix = "0123456789ab-";
  const args: unknown[] = new Array(64 * 8);
  const put = (j: number, at: number) => {
    args[at] = prefix + (seq++).toString(36);
    args[at + 1] = `bench.${entOf[j]}`;
    args[at + 2] = custOf[j];
    args[at + 3] = Date.now();
    args[at + 4] = 1;
    args[at + 5] = null;
    args[at + 6] = 0;
    args[at + 7] = storedDigest;
  };
  const batch = raw.db.transaction((j: number, n: number) => {
    for (let i = 0; i < n; i += 64) {
      for (let k = 0; k < 64; k++) put((j + i + k) & MASK, k * 8);
      many.run(...args);
    }
  });
  const single = raw.db.transaction((j: number) => {
    put(j, 0);
    one.run(...args.slice(0, 8));
  });
  // What a synchronous allow() commits at the least: its event row and its counter's row (an upsert of
  // the stored row, as the store writes it), one transaction each, over the same 50,000 counters.
  const counterRow = raw.db.prepare(
    `INSERT INTO counters (key, period_start, used, events, updated_at) VALUES (?,?,?,?,?)
      ON CONFLICT(key) DO UPDATE SET period_start = excluded.period_start, used = excluded.used,
      events = excluded.events, updated_at = excluded.updated_at`,
  );
  const counterKeys = Array.from(
    { length: CUSTOMERS * ENTITLEMENTS.length },
    (_, k) => `${ENTITLEMENTS[Math.floor(k / CUSTOMERS)]}|${customers[k % CUSTOMERS]}`,
  );
  const counted = new Float64Array(counterKeys.length);
  const month = new Date();
  const periodStart = Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1);
  raw.db.transaction(() => {
    for (const key of counterKeys) counterRow.run(key, periodStart, 0, 0, Date.now());
  })();
  const withCounter = raw.db.transaction((j: number) => {
    put(j, 0);
    one.run(...args.slice(0, 8));
    const k = order[j] as number;
    const n = ++(counted[k] as number);
    counterRow.run(counterKeys[k], periodStart, n, n, Date.now());
  });
  return {
    batched: (seconds: number, offset: number) => timed(seconds, 10_048, offset, (j) => batch(j, 10_048)),
    single: (seconds: number, offset: number) =>
      timed(seconds, 1_000, offset, (j) => {
        for (let i = 0; i < 1_000; i++, j = (j + 1) & MASK) single(j);
      }),
    pair: (seconds: number, offset: number) =>
      timed(seconds, 1_000, offset, (j) => {
        for (let i = 0; i < 1_000; i++, j = (j + 1) & MASK) withCounter(j);
      }),
    close: () => raw.close(),
  };
}

/** rate-limiter-flexible's in-memory limiter on the same keys (`customer:entitlement`), one `consume` a call. */
function rateLimiterFlexible(): (seconds: number, offset: number) => Promise<number> {
  const rl = new RateLimiterMemory({ points: 1e12, duration: 0 });
  const keys = Array.from(
    order,
    (k) => `${customers[k % CUSTOMERS]}:${ENTITLEMENTS[Math.floor(k / CUSTOMERS)]}`,
  );
  return (seconds, offset) =>
    timed(seconds, 10_000, offset, async (j) => {
      for (let i = 0; i < 10_000; i++, j = (j + 1) & MASK) await rl.consume(keys[j] as string);
    });
}

/**
 * The reference loop on the same key order: what a minimal limiter must do per
 * call (a map per entitlement, a lookup by customer, a compare with the limit
 * and one increment, at the time of the call: Date.now()), with no decision
 * logic, no event recording and no persistence. It shows how fast this machine
 * is in this run. `runNoClock` is the same loop without its clock read: what
 * the lookups, compare and increment cost alone (Date.now() per call also
 * keeps the processor from overlapping one call's cache misses with the next
 * one's). Context for the target, not a target.
 */
function referenceLoops() {
  const slots = new Map<string, Map<string, { used: number; at: number }>>();
  for (const e of ENTITLEMENTS) slots.set(e, new Map(customers.map((c) => [c, { used: 0, at: 0 }])));
  let refused = 0;
  return {
    run: (seconds: number, offset: number) =>
      timed(seconds, 100_000, offset, (j) => {
        for (let i = 0; i < 100_000; i++, j = (j + 1) & MASK) {
          const now = Date.now();
          const slot = slots.get(entOf[j] as string)?.get(custOf[j] as string);
          if (slot === undefined || slot.used >= 1e9) refused++;
          else {
            slot.used++;
            slot.at = now;
          }
        }
      }),
    runNoClock: (seconds: number, offset: number) =>
      timed(seconds, 100_000, offset, (j) => {
        for (let i = 0; i < 100_000; i++, j = (j + 1) & MASK) {
          const slot = slots.get(entOf[j] as string)?.get(custOf[j] as string);
          if (slot === undefined || slot.used >= 1e9) refused++;
          else {
            slot.used++;
            slot.at = j;
          }
        }
      }),
    refused: () => refused,
  };
}

/**
 * The least a decision that meters does, written for this benchmark alone: the
 * memory layout of the engine's fast path (a map per name to an index, a cell
 * record of the limit and counter id, a counter record of used, period end and
 * event count, a dirty mark, and the event appended to typed columns handed over
 * every 10,000 calls as a write-behind batch), the clock read once per 64 calls,
 * and nothing else: no plan resolution, idempotency ids, leases, holds, wallets,
 * spend caps, alerts or store fence. Context for the reference-loop target (what
 * this layout allows in JavaScript on this machine), not a contender: the engine
 * reads the same records and does all of the above.
 */
function minimalMeteredLoop(): (seconds: number, offset: number) => Promise<number> {
  const slotsN = CUSTOMERS * ENTITLEMENTS.length;
  const entIndex = new Map(ENTITLEMENTS.map((e, i) => [e, i]));
  const custIndex = new Map(customers.map((c, i) => [c, i]));
  const cells = new Int32Array(slotsN * 4);
  const cellLimit = new Float64Array(cells.buffer);
  const rec = new Float64Array(slotsN * 4);
  const periodEnd = Date.now() + 86_400_000;
  for (let k = 0; k < slotsN; k++) {
    cells[k * 4 + 1] = k + 1;
    cellLimit[k * 2 + 1] = 1e9;
    rec[k * 4 + 2] = periodEnd;
  }
  const queued = new Uint8Array(slotsN);
  const dirty = new Int32Array(slotsN);
  let dirtyN = 0;
  const BATCH = 10_000;
  const evKey = new Int32Array(BATCH);
  const evTs = new Float64Array(BATCH);
  const evValue = new Float64Array(BATCH);
  let evN = 0;
  let handed: unknown = null;
  let clockAt = 0;
  let clockLeft = 0;
  const decide = (customer: string, entitlement: string, amount: number): boolean => {
    let now = clockAt;
    if (clockLeft-- <= 0) {
      now = clockAt = Date.now();
      clockLeft = 64;
    }
    const e = entIndex.get(entitlement);
    const c = custIndex.get(customer);
    if (e === undefined || c === undefined) return false;
    const cell = (c * ENTITLEMENTS.length + e) * 4;
    const cid = (cells[cell + 1] as number) - 1;
    if (cid < 0) return false;
    const at = cid * 4;
    if (now >= (rec[at + 2] as number)) return false;
    const used = (rec[at] as number) + amount;
    if (used + (rec[at + 1] as number) > (cellLimit[(cell >> 1) + 1] as number)) return false;
    rec[at] = used;
    rec[at + 3] = (rec[at + 3] as number) + 1;
    if (queued[cid] === 0) {
      queued[cid] = 1;
      dirty[dirtyN++] = cid;
    }
    const i = evN++;
    evKey[i] = cid;
    evTs[i] = now;
    evValue[i] = amount;
    if (evN === BATCH) {
      handed = [evKey.slice(), evTs.slice(), evValue.slice(), dirty.slice(0, dirtyN)];
      for (let d = 0; d < dirtyN; d++) queued[dirty[d] as number] = 0;
      dirtyN = 0;
      evN = 0;
    }
    return true;
  };
  return (seconds, offset) =>
    timed(seconds, 100_000, offset, (j) => {
      for (let i = 0; i < 100_000; i++, j = (j + 1) & MASK)
        if (!decide(custOf[j] as string, entOf[j] as string, 1))
          throw new Error("the minimal metered loop refused a call");
      return handed;
    });
}

rmSync(tmp, { recursive: true, force: true });
const wallMedian = Object.entries(wall)
  .map(([k, v]) => `${k} ${median(v)}`)
  .join(", ");
process.stderr.write(
  `engine (ops per CPU second): memory ${results.allow_memory_ops_s} ops/s (per call: p50 ${p50ns} ns, p99 ${results.allow_p99_ns} ns, ` +
    `p99.9 ${results.allow_p999_ns} ns, max ${results.allow_max_ns} ns, clock read ${clockNs} ns subtracted), sqlite batched ` +
    `${results.allow_sqlite_batched_ops_s}, sqlite sync ${results.allow_sqlite_sync_ops_s}, ` +
    `rate-limiter-flexible ${results.peer_rlf_memory_ops_s}; wall-clock ops/s: ${wallMedian}; ratios by round: ` +
    `${Object.entries(perRound)
      .map(([k, v]) => `${k} ${v.join(" ")}`)
      .join(", ")}\n`,
);
console.log(JSON.stringify({ bench: "engine", results, rounds: perRound }));
