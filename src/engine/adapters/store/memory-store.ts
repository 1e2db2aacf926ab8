import { randomBytes } from "node:crypto";
import { type Counter, type CounterTable, EVENTS, STRIDE, USED } from "../../core/engine/counter.js";
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
import { resized } from "../../core/engine/typed-arrays.js";
import type { WalletTxKind } from "../../core/wallet/model.js";
import type { WalletRow, WalletTxRow } from "../../core/wallet/store-rows.js";
import { MemoryWallets } from "./memory-wallets.js";

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
  readonly storeId = randomBytes(4).toString("hex");
  private readonly counters = new CounterRows();
  private readonly holds = new Map<string, HoldRow>();
  private readonly subscriptions = new Map<string, SubscriptionRow>();
  private readonly chunks: Chunk[] = [];
  private kept = 0;
  /** Caller-given ids of kept events: the UNIQUE(id) of the SQLite store (R13). */
  private readonly ids = new Set<string>();
  private readonly retain: number;
  private readonly wallets: MemoryWallets;

  constructor(options: { retainEvents?: number } = {}) {
    this.retain = Math.max(1, options.retainEvents ?? 100_000);
    this.wallets = new MemoryWallets(this.retain);
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

  loadWallets(): WalletRow[] {
    return this.wallets.loadWallets();
  }

  walletTransactions(customer: string, from: number, to: number): WalletTxRow[] {
    return this.wallets.walletTransactions(customer, from, to);
  }

  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[] {
    return this.wallets.walletActivity(from, to, kinds);
  }

  walletTransaction(customer: string, id: string): WalletTxRow | null {
    return this.wallets.walletTransaction(customer, id);
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
    for (let i = 0; events.explicit > 0 && i < events.length; i++) {
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
    if (batch.wallets !== undefined) this.wallets.write(batch.wallets);
  }

  close(): void {}

  private trim(): void {
    while (this.kept > this.retain) {
      const oldest = this.chunks[0] as Chunk;
      const drop = Math.min(this.kept - this.retain, oldest.events.length - oldest.from);
      for (let i = oldest.from; oldest.events.explicit > 0 && i < oldest.from + drop; i++) {
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
    explicit: events.explicit - (events.length - keep.length),
    event: (i) => events.event(keep[i] as number),
    explicitId: (i) => events.explicitId(keep[i] as number),
    snapshot() {
      return this;
    },
  };
}

/**
 * The counter rows one engine wrote: a copy of its counter table's numbers as
 * of its last batch, in the table's own layout and indexed by counter id. A
 * batch copies each changed counter's record (or, when most changed, the
 * whole table at memory speed) instead of looking rows up by key.
 */
class TableCopy {
  private rec = new Float64Array(0);
  private periodStart = new Float64Array(0);
  private updatedAt = new Float64Array(0);
  /** 1 = this counter was in a batch (a row exists). */
  private written = new Uint8Array(0);
  /** Period state (anchor, buckets) of the counters that have one, by id. */
  private readonly states = new Map<number, string>();

  constructor(readonly table: CounterTable) {}

  write(counters: CounterColumns, at: number): void {
    const t = this.table;
    const n = t.length;
    if (this.written.length < n) this.grow(t.periodStart.length);
    const rec = this.rec;
    if (counters.length * 8 > n) {
      // Most counters changed: copying the table is cheaper than gathering them one by one.
      rec.set(t.rec.subarray(0, n * STRIDE));
      this.periodStart.set(t.periodStart.subarray(0, n));
    } else {
      const from = t.rec;
      for (let i = 0; i < counters.length; i++) {
        const id = counters.id(i);
        const r = id * STRIDE;
        rec[r + USED] = from[r + USED] as number;
        rec[r + EVENTS] = from[r + EVENTS] as number;
        this.periodStart[id] = t.periodStart[id] as number;
      }
    }
    for (let i = 0; i < counters.length; i++) {
      const id = counters.id(i);
      this.updatedAt[id] = at;
      this.written[id] = 1;
      const state = counters.periodState(i);
      if (state !== null) this.states.set(id, state);
    }
  }

  /** The rows written, into `out` by key (a later table's row replaces an earlier one's). */
  rows(out: Map<string, CounterRow>): void {
    const t = this.table;
    for (let id = 0; id < this.written.length; id++) {
      if (this.written[id] === 0) continue;
      const c = t.counters[id] as Counter;
      out.set(c.key, {
        key: c.key,
        owner: c.owner,
        entitlement: c.entitlement,
        periodStart: this.periodStart[id] as number,
        used: this.rec[id * STRIDE + USED] as number,
        events: this.rec[id * STRIDE + EVENTS] as number,
        updatedAt: this.updatedAt[id] as number,
        periodState: this.states.get(id) ?? null,
      });
    }
  }

  private grow(n: number): void {
    this.rec = resized(this.rec, n * STRIDE);
    this.periodStart = resized(this.periodStart, n);
    this.updatedAt = resized(this.updatedAt, n);
    this.written = resized(this.written, n);
  }
}

/** Counter rows of every engine that wrote to the store, oldest first. */
class CounterRows {
  private readonly copies: TableCopy[] = [];
  private last: TableCopy | null = null;

  write(counters: CounterColumns, at: number): void {
    if (counters.length === 0) return;
    let copy = this.last;
    if (copy === null || copy.table !== counters.table) {
      copy = this.copies.find((c) => c.table === counters.table) ?? null;
      if (copy === null) {
        copy = new TableCopy(counters.table);
        this.copies.push(copy);
      }
      this.last = copy;
    }
    copy.write(counters, at);
  }

  rows(): CounterRow[] {
    const out = new Map<string, CounterRow>();
    for (const copy of this.copies) copy.rows(out);
    return [...out.values()];
  }
}
