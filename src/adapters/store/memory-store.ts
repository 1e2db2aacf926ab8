import type {
  CounterRow,
  CounterState,
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
  private readonly counters = new Map<string, CounterRow>();
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
    return [...this.counters.values()].map((r) => ({ ...r }));
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
    for (const c of batch.counters) {
      // The engine's counters carry their row (see Counter.storeRow): no lookup by key per flush.
      const live = c as CounterState & { storeRow?: CounterRow | null };
      let row = live.storeRow ?? this.counters.get(c.key);
      if (row === undefined) {
        row = {
          key: c.key,
          owner: c.owner,
          entitlement: c.entitlement,
          periodStart: 0,
          used: 0,
          events: 0,
          updatedAt: 0,
        };
        this.counters.set(c.key, row);
      }
      if (live.storeRow !== undefined) live.storeRow = row;
      row.periodStart = c.periodStart;
      row.used = c.used;
      row.events = c.events;
      row.updatedAt = batch.at;
    }
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
