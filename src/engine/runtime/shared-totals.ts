import type { Redis } from "ioredis";
import { hashTag, keySlot, NodeBatch, type NodeRouter, type Send } from "../adapters/redis/slots.js";
import type { CounterTable } from "../core/engine/counter.js";
import { slidingWindowOf } from "../core/engine/period-clock.js";
import type { CounterRow } from "../core/engine/store-port.js";
import { resized } from "../core/engine/typed-arrays.js";
import { LIFETIME } from "../core/periods.js";

/** Counters per script call: one round trip each. */
const CHUNK = 1_000;

/**
 * Adds each key's delta to its total and returns the totals (KEYS: totals
 * hashes; ARGV[1]: the deltas, ARGV[2]: the PEXPIREAT of each key, 0 for
 * none, each list joined by commas, or "" when no key's expiry goes with
 * the call; the reply: the totals joined by commas).
 * Three arguments a call instead of three a counter, and one reply string
 * instead of a thousand: with every counter changing each tick, encoding and
 * parsing them was most of what a sync cost the engine.
 */
const TOTALS_LUA = `
local deltas, ats = {}, {}
for v in string.gmatch(ARGV[1], '[^,]+') do deltas[#deltas + 1] = v end
local out = {}
if ARGV[2] == '' then
  for i, key in ipairs(KEYS) do out[i] = redis.call('HINCRBYFLOAT', key, 'used', deltas[i]) end
  return table.concat(out, ',')
end
for v in string.gmatch(ARGV[2], '[^,]+') do ats[#ats + 1] = tonumber(v) end
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HINCRBYFLOAT', key, 'used', deltas[i])
  if ats[i] > 0 then redis.call('PEXPIREAT', key, ats[i]) end
end
return table.concat(out, ',')
`;

/** One counter's addition: what an engine counted since its last sync. */
export interface TotalsItem {
  readonly counter: string;
  readonly periodStart: number;
  /** null for lifetime counters. */
  readonly periodEnd: number | null;
  readonly delta: number;
}

/** Totals kept somewhere other than Redis (the Postgres store's rows). */
export interface TotalsTransport {
  /** Add each counter's delta to its total across engines; resolves to the totals, in order. */
  addTotals(items: readonly TotalsItem[]): Promise<number[]>;
}

type WithTotals = Redis & { limitrTotals(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string> };
/** A period's totals outlive its end by this long. */
const GRACE_MS = 3_600_000;
/**
 * A key's expiry goes with its first push in a period, then with one push
 * this often (a key lost with a restarted server and created again by a
 * push gets its expiry back), not with every push: PEXPIREAT was half of
 * what a sync of every counter cost the server.
 */
const EXPIRY_EVERY_MS = 60_000;

/**
 * Every counter's total across engines, in Redis (R16: soft and observe
 * counts are exact once flushed). Each engine adds what it counted since its
 * last sync with one HINCRBYFLOAT per counter (a thousand counters per script call), and
 * the reply, the total with every engine's additions, becomes the local
 * `used`, so decisions, `usage()` and alerts see other engines' usage after a
 * sync. A hard limit is never decided from these totals alone: its lease is.
 */
export class SharedTotals {
  /** The local `used` value already added to Redis, per counter id. */
  private base = new Float64Array(1024);
  /** The period `base` belongs to (NaN: never synced). */
  private period = new Float64Array(1024).fill(Number.NaN);
  /** 1 until a push with the key's expiry was answered, in the counter's period. */
  private unexpired = new Uint8Array(1024);
  /** When pushes last carried every key's expiry. */
  private expiriesAt = 0;
  /** Each counter's totals key in its current period (built once per period, not once per sync). */
  private readonly keys: string[] = [];
  /** Rows restored from the store, by counter key: a restored `used` was pushed before the restart. */
  private readonly restored = new Map<string, CounterRow>();

  private readonly redis: WithTotals | null = null;
  private readonly transport: TotalsTransport | null = null;

  constructor(
    redis: Redis | TotalsTransport,
    private readonly counters: CounterTable,
    private readonly prefix: string,
    restored: readonly CounterRow[],
    /** One script call per Redis Cluster slot (a single server takes every counter in one). */
    private readonly bySlot = false,
  ) {
    for (const row of restored) this.restored.set(row.key, row);
    if ("addTotals" in redis) {
      this.transport = redis;
      return;
    }
    if (!("limitrTotals" in redis)) redis.defineCommand("limitrTotals", { lua: TOTALS_LUA });
    this.redis = redis as WithTotals;
  }

  /** The sync in flight: syncs run one at a time (each reads `base` the previous one wrote). */
  private running: Promise<number> | null = null;

  /** Push every changed counter (every counter when `all`), pull their totals; resolves to the round trips made. */
  async sync(all: boolean): Promise<number> {
    while (this.running !== null) await this.running.catch(() => 0);
    const run = this.push(all);
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = null;
    }
  }

  private async push(all: boolean): Promise<number> {
    const t = this.counters;
    if (t.length > this.base.length) this.grow(t.length);
    if (this.transport !== null) return this.pushTo(this.transport, all);
    const redis = this.redis as WithTotals;
    const sends: Promise<void>[] = [];
    interface Batch {
      ids: number[];
      sent: number[];
      keys: string[];
      deltas: number[];
      expiries: number[];
      periods: number[];
      /** Some key's expiry goes with the call. */
      expiring: boolean;
    }
    const empty = (): Batch => ({
      ids: [],
      sent: [],
      keys: [],
      deltas: [],
      expiries: [],
      periods: [],
      expiring: false,
    });
    // One open batch on a single server; one per hash slot on a cluster.
    const open = new Map<number, Batch>();
    // On a cluster client, the calls of the slots one node serves go in one pipeline (slots.ts).
    let trips = 0;
    const direct: Send = (_command, args) => {
      trips++;
      return redis.limitrTotals(...(args as [number, ...string[]]));
    };
    const nodes =
      this.bySlot && (redis as { isCluster?: boolean }).isCluster === true
        ? new NodeBatch(redis as unknown as NodeRouter, direct, () => {
            trips++;
          })
        : null;
    const send = (slot: number) => {
      const batch = open.get(slot) as Batch;
      open.delete(slot);
      // A number's String() reads back as the same double, in Lua as in JavaScript.
      const args = [
        batch.keys.length,
        ...batch.keys,
        batch.deltas.join(","),
        batch.expiring ? batch.expiries.join(",") : "",
      ];
      const call = nodes === null ? direct : nodes.sender(slot);
      sends.push(
        (call("limitrTotals", args) as Promise<string>).then((reply) => {
          const totals = reply.split(",");
          for (let i = 0; i < totals.length; i++) {
            const cid = batch.ids[i] as number;
            if ((batch.expiries[i] as number) > 0 && this.period[cid] === batch.periods[i])
              this.unexpired[cid] = 0;
            this.take(cid, batch.sent[i] as number, Number(totals[i]));
          }
        }),
      );
    };
    const wall = Date.now();
    const everyExpiry = wall - this.expiriesAt >= EXPIRY_EVERY_MS;
    if (everyExpiry) this.expiriesAt = wall;
    for (let cid = 0; cid < t.length; cid++) {
      const c = t.counters[cid];
      // A sliding window's total is its own buckets' (kept per engine; its hard limit is leased by bucket).
      if (c === undefined || slidingWindowOf(c) !== null) continue;
      const start = t.periodStart[cid] as number;
      if (this.period[cid] !== start) {
        const first = Number.isNaN(this.period[cid] as number);
        this.period[cid] = start;
        const row = first ? this.restored.get(c.key) : undefined;
        this.base[cid] = row !== undefined && row.periodStart === start ? row.used : 0;
        this.keys[cid] = `${this.prefix}${hashTag(`${c.owner}|${c.entitlement}@${start}`)}`;
        this.unexpired[cid] = 1;
      }
      const used = c.used;
      const delta = used - (this.base[cid] as number);
      if (delta === 0 && !all) continue;
      const end = t.periodEnd[cid] as number;
      const key = this.keys[cid] as string;
      const slot = this.bySlot ? keySlot(key) : 0;
      let batch = open.get(slot);
      if (!batch) open.set(slot, (batch = empty()));
      batch.keys.push(key);
      // Never in the past (see RedisLeases): the total would restart from this engine's delta.
      // A period that ended on this host's clock moves its expiry with every push.
      const expireAt =
        end < LIFETIME.end && (everyExpiry || this.unexpired[cid] === 1 || end < wall)
          ? Math.max(end, wall) + GRACE_MS
          : 0;
      batch.deltas.push(delta);
      batch.expiries.push(expireAt);
      if (expireAt > 0) batch.expiring = true;
      batch.periods.push(start);
      batch.ids.push(cid);
      batch.sent.push(used);
      if (batch.keys.length >= CHUNK) send(slot);
    }
    for (const slot of [...open.keys()]) send(slot);
    nodes?.flush();
    await Promise.all(sends);
    return trips;
  }

  /** `push` through a transport: CHUNK counters per call, one call at a time. */
  private async pushTo(transport: TotalsTransport, all: boolean): Promise<number> {
    const t = this.counters;
    let calls = 0;
    let ids: number[] = [];
    let sent: number[] = [];
    let items: TotalsItem[] = [];
    const send = async () => {
      const totals = await transport.addTotals(items);
      calls++;
      for (let i = 0; i < totals.length; i++)
        this.take(ids[i] as number, sent[i] as number, totals[i] as number);
      ids = [];
      sent = [];
      items = [];
    };
    for (let cid = 0; cid < t.length; cid++) {
      const c = t.counters[cid];
      if (c === undefined) continue;
      const start = t.periodStart[cid] as number;
      if (this.period[cid] !== start) {
        const first = Number.isNaN(this.period[cid] as number);
        this.period[cid] = start;
        const row = first ? this.restored.get(c.key) : undefined;
        this.base[cid] = row !== undefined && row.periodStart === start ? row.used : 0;
      }
      const used = c.used;
      const delta = used - (this.base[cid] as number);
      if (delta === 0 && !all) continue;
      const end = t.periodEnd[cid] as number;
      items.push({
        counter: `${c.owner}|${c.entitlement}`,
        periodStart: start,
        periodEnd: end < LIFETIME.end ? end : null,
        delta,
      });
      ids.push(cid);
      sent.push(used);
      if (items.length >= CHUNK) await send();
    }
    if (items.length > 0) await send();
    return calls;
  }

  /** The total after this engine's addition: local `used` is the total plus what was counted since the send. */
  private take(cid: number, sentUsed: number, total: number): void {
    const t = this.counters;
    const c = t.counters[cid];
    if (c === undefined || !Number.isFinite(total) || this.period[cid] !== t.periodStart[cid]) return;
    const now = c.used;
    c.used = Math.max(0, total + (now - sentUsed));
    this.base[cid] = total;
  }

  private grow(n: number): void {
    const size = Math.max(n, this.base.length * 2);
    this.base = resized(this.base, size);
    this.unexpired = resized(this.unexpired, size);
    const period = resized(this.period, size);
    period.fill(Number.NaN, this.period.length);
    this.period = period;
  }
}
