import type { Redis } from "ioredis";
import type { CounterTable } from "../core/engine/counter.js";
import type { CounterRow } from "../core/engine/store-port.js";
import { resized } from "../core/engine/typed-arrays.js";
import { LIFETIME } from "../core/periods.js";

/** Counters per script call: one round trip each. */
const CHUNK = 1_000;

/** Adds each key's delta to its total and returns the totals (KEYS: totals hashes; ARGV: delta, expireAt per key). */
const TOTALS_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HINCRBYFLOAT', key, 'used', ARGV[2 * i - 1])
  local at = tonumber(ARGV[2 * i])
  if at > 0 then redis.call('PEXPIREAT', key, at) end
end
return out
`;

type WithTotals = Redis & { limitrTotals(numberOfKeys: number, ...keysAndArgs: string[]): Promise<string[]> };
/** A period's totals outlive its end by this long. */
const GRACE_MS = 3_600_000;

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
  /** Each counter's totals key in its current period (built once per period, not once per sync). */
  private readonly keys: string[] = [];
  /** Rows restored from the store, by counter key: a restored `used` was pushed before the restart. */
  private readonly restored = new Map<string, CounterRow>();

  private readonly redis: WithTotals;

  constructor(
    redis: Redis,
    private readonly counters: CounterTable,
    private readonly prefix: string,
    restored: readonly CounterRow[],
  ) {
    for (const row of restored) this.restored.set(row.key, row);
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
    const sends: Promise<void>[] = [];
    let ids: number[] = [];
    let sent: number[] = [];
    let keys: string[] = [];
    let args: string[] = [];
    const send = () => {
      const batch = { ids, sent };
      sends.push(
        this.redis.limitrTotals(keys.length, ...keys, ...args).then((totals) => {
          for (let i = 0; i < totals.length; i++)
            this.take(batch.ids[i] as number, batch.sent[i] as number, Number(totals[i]));
        }),
      );
      ids = [];
      sent = [];
      keys = [];
      args = [];
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
        this.keys[cid] = `${this.prefix}{${c.owner}|${c.entitlement}@${start}}`;
      }
      const used = c.used;
      const delta = used - (this.base[cid] as number);
      if (delta === 0 && !all) continue;
      const end = t.periodEnd[cid] as number;
      keys.push(this.keys[cid] as string);
      args.push(String(delta), end < LIFETIME.end ? String(end + GRACE_MS) : "0");
      ids.push(cid);
      sent.push(used);
      if (keys.length >= CHUNK) send();
    }
    if (keys.length > 0) send();
    await Promise.all(sends);
    return sends.length;
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
    const period = resized(this.period, size);
    period.fill(Number.NaN, this.period.length);
    this.period = period;
  }
}
