import type {
  CounterRow,
  EngineStore,
  HoldRow,
  StoredEvent,
  SubscriptionRow,
  WriteBatch,
} from "../../core/engine/store-port.js";

/** A stored event with the bundle it was decided under (R14). */
export interface MemoryEvent extends StoredEvent {
  bundleVersion: number;
  bundleDigest: string;
}

/**
 * The in-memory engine store: the same port as SQLite, for tests, examples
 * and ephemeral services. Pass one instance to several `Limitr.open` calls in
 * turn to simulate a restart. Keeps the newest `retainEvents` events (default
 * 100,000) so a long-running process does not grow without bound; counters,
 * holds and plan history are kept in full.
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
  private stored: MemoryEvent[] = [];
  private readonly ids = new Set<string>();
  private readonly retain: number;

  constructor(options: { retainEvents?: number } = {}) {
    this.retain = options.retainEvents ?? 100_000;
  }

  loadCounters(): CounterRow[] {
    return [...this.counters.values()].map((r) => ({ ...r }));
  }

  loadHolds(): HoldRow[] {
    return [...this.holds.values()].map((r) => ({ ...r }));
  }

  loadPlanHistory(): SubscriptionRow[] {
    return [...this.subscriptions.values()].map((r) => ({ ...r }));
  }

  recentEventIds(limit: number): string[] {
    return this.stored.slice(-limit).map((e) => e.id);
  }

  /** Events kept, oldest first. */
  events(): readonly MemoryEvent[] {
    return this.stored;
  }

  write(batch: WriteBatch): void {
    const { events } = batch;
    // Only the tail of a batch larger than the retention window can survive it.
    for (let i = Math.max(0, events.length - this.retain); i < events.length; i++) {
      const e = events.event(i);
      if (this.ids.has(e.id)) continue; // the UNIQUE(id) of the SQLite store (R13)
      this.ids.add(e.id);
      this.stored.push({ ...e, bundleVersion: batch.bundleVersion, bundleDigest: batch.bundleDigest });
    }
    if (this.stored.length > this.retain) {
      const dropped = this.stored.slice(0, this.stored.length - this.retain);
      for (const e of dropped) this.ids.delete(e.id);
      this.stored = this.stored.slice(-this.retain);
    }
    for (const c of batch.counters) this.counters.set(c.key, { ...c });
    for (const h of batch.holdsUpsert) this.holds.set(h.id, { ...h });
    for (const id of batch.holdsDelete) this.holds.delete(id);
    for (const s of batch.subscriptions)
      this.subscriptions.set(`${s.customer}\u0000${s.effectiveAt}`, { ...s });
  }

  close(): void {}
}
