import type {
  CounterColumns,
  CounterRow,
  EngineStore,
  EventColumns,
  HoldRow,
  PolicyActivation,
  StoredEvent,
  SubscriptionRow,
  WriteBatch,
} from "../../core/engine/store-port.js";

/** A stored event with the bundle it was decided under (R14). */
export interface MemoryEvent extends StoredEvent {
  bundleVersion: number;
  bundleDigest: string;
}

interface Chunk {
  events: EventColumns;
  /** Index of the first event of `events` still kept (older ones fell out of the retention window). */
  from: number;
  bundleVersion: number;
  bundleDigest: string;
}

/**
 * The in-memory engine store: the same port as SQLite, for tests, examples
 * and ephemeral services. Pass one instance to several `Limitr.open` calls in
 * turn to simulate a restart. Keeps the newest `retainEvents` events (default
 * 100,000) so a long-running process does not grow without bound; counters,
 * holds and plan history are kept in full. Events are kept as the engine's
 * column batches and turned into objects only when read.
 *
 * @example
 * const store = new MemoryEngineStore();
 * const limitr = await Limitr.open({ policy, store });
 */
export class MemoryEngineStore implements EngineStore {
  readonly location = "memory";
  private readonly counters = new CounterRows();
  private readonly holds = new Map<string, HoldRow>();
  private readonly subscriptions = new Map<string, SubscriptionRow>();
  private readonly chunks: Chunk[] = [];
  private kept = 0;
  /** Caller-given ids of kept events: the UNIQUE(id) of the SQLite store (R13). */
  private readonly ids = new Set<string>();
  private readonly retain: number;

  constructor(options: { retainEvents?: number } = {}) {
    this.retain = Math.max(1, options.retainEvents ?? 100_000);
  }

  loadCounters(): CounterRow[] {
    return this.counters.rows();
  }

  loadHolds(): HoldRow[] {
    return [...this.holds.values()].map((r) => ({ ...r }));
  }

  /** Policies activated on this store, oldest first. */
  readonly activations: PolicyActivation[] = [];

  recordActivation(a: PolicyActivation): void {
    const last = this.activations[this.activations.length - 1];
    if (last && last.version === a.version && last.digest === a.digest) return;
    this.activations.push({ ...a });
  }

  loadPlanHistory(): SubscriptionRow[] {
    return [...this.subscriptions.values()].map((r) => ({ ...r }));
  }

  recentEventIds(limit: number): string[] {
    return this.events()
      .slice(-limit)
      .map((e) => e.id);
  }

  /** Events kept, oldest first. */
  events(): MemoryEvent[] {
    const out: MemoryEvent[] = [];
    for (const c of this.chunks) {
      for (let i = c.from; i < c.events.length; i++) {
        out.push({ ...c.events.event(i), bundleVersion: c.bundleVersion, bundleDigest: c.bundleDigest });
      }
    }
    return out;
  }

  write(batch: WriteBatch): void {
    const events = batch.events.snapshot();
    let duplicates: boolean[] | null = null;
    for (let i = 0; i < events.length; i++) {
      const id = events.explicitId(i);
      if (id === undefined) continue;
      if (this.ids.has(id)) (duplicates ??= [])[i] = true;
      else this.ids.add(id);
    }
    const kept = duplicates === null ? events : withoutDuplicates(events, duplicates);
    this.chunks.push({
      events: kept,
      from: 0,
      bundleVersion: batch.bundleVersion,
      bundleDigest: batch.bundleDigest,
    });
    this.kept += kept.length;
    this.trim();
    this.counters.write(batch.counters, batch.at);
    for (const h of batch.holdsUpsert) this.holds.set(h.id, { ...h });
    for (const id of batch.holdsDelete) this.holds.delete(id);
    for (const s of batch.subscriptions)
      this.subscriptions.set(`${s.customer}\u0000${s.effectiveAt}`, { ...s });
  }

  close(): void {}

  private trim(): void {
    while (this.kept > this.retain) {
      const oldest = this.chunks[0] as Chunk;
      const drop = Math.min(this.kept - this.retain, oldest.events.length - oldest.from);
      for (let i = oldest.from; i < oldest.from + drop; i++) {
        const id = oldest.events.explicitId(i);
        if (id !== undefined) this.ids.delete(id);
      }
      oldest.from += drop;
      this.kept -= drop;
      if (oldest.from >= oldest.events.length) this.chunks.shift();
    }
  }
}

/** The batch minus events whose id was already stored (rare: only past the engine's idempotency window). */
function withoutDuplicates(events: EventColumns, duplicates: boolean[]): EventColumns {
  const keep: number[] = [];
  for (let i = 0; i < events.length; i++) if (!duplicates[i]) keep.push(i);
  return {
    length: keep.length,
    event: (i) => events.event(keep[i] as number),
    explicitId: (i) => events.explicitId(keep[i] as number),
    snapshot() {
      return this;
    },
  };
}

/**
 * Counter rows, column-wise, with the row of each engine counter remembered
 * by its id (per engine table): a flush copies numbers between typed arrays
 * instead of looking rows up by key or touching an object per counter.
 */
class CounterRows {
  private length = 0;
  private readonly keys: string[] = [];
  private readonly owners: string[] = [];
  private readonly entitlements: string[] = [];
  private readonly byKey = new Map<string, number>();
  private periodStart = new Float64Array(1024);
  private used = new Float64Array(1024);
  private events = new Float64Array(1024);
  private updatedAt = new Float64Array(1024);
  /** Engine table -> (engine counter id -> row + 1; 0 = not looked up yet). */
  private readonly rowOf = new WeakMap<object, Int32Array>();

  write(counters: CounterColumns, at: number): void {
    const n = counters.length;
    if (n === 0) return;
    let map = this.rowOf.get(counters.table) ?? new Int32Array(1024);
    for (let i = 0; i < n; i++) {
      const id = counters.id(i);
      if (id >= map.length) {
        const bigger = new Int32Array(Math.max(map.length * 2, id + 1));
        bigger.set(map);
        map = bigger;
      }
      let row = (map[id] as number) - 1;
      if (row < 0) {
        row = this.rowFor(counters.key(i), counters.owner(i), counters.entitlement(i));
        map[id] = row + 1;
      }
      this.periodStart[row] = counters.periodStart(i);
      this.used[row] = counters.used(i);
      this.events[row] = counters.events(i);
      this.updatedAt[row] = at;
    }
    this.rowOf.set(counters.table, map);
  }

  rows(): CounterRow[] {
    const out: CounterRow[] = [];
    for (let r = 0; r < this.length; r++) {
      out.push({
        key: this.keys[r] as string,
        owner: this.owners[r] as string,
        entitlement: this.entitlements[r] as string,
        periodStart: this.periodStart[r] as number,
        used: this.used[r] as number,
        events: this.events[r] as number,
        updatedAt: this.updatedAt[r] as number,
      });
    }
    return out;
  }

  private rowFor(key: string, owner: string, entitlement: string): number {
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const row = this.length++;
    if (row === this.used.length) {
      const n = row * 2;
      this.periodStart = grow(this.periodStart, n);
      this.used = grow(this.used, n);
      this.events = grow(this.events, n);
      this.updatedAt = grow(this.updatedAt, n);
    }
    this.keys.push(key);
    this.owners.push(owner);
    this.entitlements.push(entitlement);
    this.byKey.set(key, row);
    return row;
  }
}

function grow(from: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  const to = new Float64Array(n);
  to.set(from);
  return to;
}
