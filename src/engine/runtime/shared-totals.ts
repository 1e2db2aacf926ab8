import type { Redis } from "ioredis";
import type { CounterTable } from "../core/engine/counter.js";
import { resized } from "../core/engine/typed-arrays.js";
import { LIFETIME } from "../core/periods.js";

/** Commands per pipeline: one round trip each. */
const CHUNK = 5_000;
/** A period's totals outlive its end by this long. */
const GRACE_MS = 3_600_000;

/**
 * Every counter's total across engines, in Redis (R16: soft and observe
 * counts are exact once flushed). Each engine adds what it counted since its
 * last sync with one HINCRBYFLOAT per counter (batched in a pipeline), and
 * the reply, the total with every engine's additions, becomes the local
 * `used`, so decisions, `usage()` and alerts see other engines' usage after a
 * sync. A hard limit is never decided from these totals alone: its lease is.
 */
export class SharedTotals {
  /** The local `used` value already added to Redis, per counter id. */
  private base = new Float64Array(1024);
  /** The period `base` belongs to (NaN: never synced). */
  private period = new Float64Array(1024).fill(Number.NaN);

  constructor(
    private readonly redis: Redis,
    private readonly counters: CounterTable,
    private readonly prefix: string,
  ) {}

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
    const ids: number[] = [];
    const sent: number[] = [];
    let pipe = this.redis.pipeline();
    let trips = 0;
    const sends: Promise<unknown>[] = [];
    const apply = (results: [Error | null, unknown][] | null, from: number) => {
      if (results === null) return;
      for (let i = 0; i < results.length; i += 2) {
        const [err, total] = results[i] as [Error | null, unknown];
        if (err) throw err;
        const k = from + i / 2;
        this.take(ids[k] as number, sent[k] as number, Number(total));
      }
    };
    for (let cid = 0; cid < t.length; cid++) {
      const c = t.counters[cid];
      if (c === undefined) continue;
      const start = t.periodStart[cid] as number;
      if (this.period[cid] !== start) {
        this.period[cid] = start;
        this.base[cid] = 0;
      }
      const used = c.used;
      const delta = used - (this.base[cid] as number);
      if (delta === 0 && !all) continue;
      const key = `${this.prefix}{${c.owner}|${c.entitlement}@${start}}`;
      const end = t.periodEnd[cid] as number;
      pipe.hincrbyfloat(key, "used", delta);
      if (end < LIFETIME.end) pipe.pexpireat(key, end + GRACE_MS);
      else pipe.persist(key);
      ids.push(cid);
      sent.push(used);
      if (pipe.length >= CHUNK) {
        const from = ids.length - pipe.length / 2;
        sends.push(pipe.exec().then((r) => apply(r, from)));
        trips++;
        pipe = this.redis.pipeline();
      }
    }
    if (pipe.length > 0) {
      const from = ids.length - pipe.length / 2;
      sends.push(pipe.exec().then((r) => apply(r, from)));
      trips++;
    }
    await Promise.all(sends);
    return trips;
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
