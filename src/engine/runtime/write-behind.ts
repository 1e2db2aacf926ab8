import { type Counter, type CounterTable, EVENTS, STRIDE, USED } from "../core/engine/counter.js";
import type {
  CounterColumns,
  EventColumns,
  HoldRow,
  StoredEvent,
  SubscriptionRow,
  WriteBatch,
} from "../core/engine/store-port.js";
import { resized } from "../core/engine/typed-arrays.js";
import type { PropertyValue } from "../core/model.js";
import type { Wallets } from "./wallets.js";

type Props = Record<string, PropertyValue> | undefined;

/** Who an event is about and how it is stored: a Slot for decisions, a small object for `record`. */
export interface EventSource {
  /** Event type stored (for a decision: the meter's first event type). */
  readonly eventType: string;
  readonly customer: string;
  /** The meter's value property: an `allow` of n units is stored with `properties[valueProp] = n` so raters read it. */
  readonly valueProp: string | null;
  /** Properties the meter's filter needs, when the call gave none (see `filterDefaults`). */
  readonly filterProps: Record<string, PropertyValue> | null;
}

const INITIAL = 1024;
/** Base 36 of 0 to 1,295, two digits each (zero-padded). */
const PAIRS = Array.from({ length: 36 * 36 }, (_, n) => n.toString(36).padStart(2, "0"));

/**
 * `generatedId(prefix, seq)` for the sequence numbers of a flush, which run in
 * order: the prefix and the number's leading base-36 digits are kept while
 * they stay the same (for 1,296 numbers in a row) and its last two digits come
 * from a table, so an id is one concatenation instead of a radix conversion.
 */
class IdText {
  private high = -1;
  private head = "";

  constructor(private readonly prefix: string) {}

  of(seq: number): string {
    if (!(seq >= PAIRS.length && seq <= Number.MAX_SAFE_INTEGER)) return generatedId(this.prefix, seq);
    const high = Math.floor(seq / PAIRS.length);
    if (high !== this.high) {
      this.high = high;
      this.head = this.prefix + high.toString(36);
    }
    return this.head + (PAIRS[seq - high * PAIRS.length] as string);
  }
}

/**
 * Usage events waiting for the next flush, kept as parallel columns so that
 * buffering a call allocates no object. A generated id is kept as its
 * sequence number and turned into text (per-engine prefix + base 36) only
 * when flushed. Properties are written only for calls that pass some.
 */
export class EventBuffer implements EventColumns {
  length = 0;
  explicit = 0;
  private ids: (string | number)[] = [];
  private sources: EventSource[] = [];
  private ts = new Float64Array(INITIAL);
  /** NaN = no value. */
  private values = new Float64Array(INITIAL);
  private props: Props[] = [];
  /** Events whose `props` entry is set. */
  private withProps = 0;
  /** Generated ids as text, at the flush. */
  private idText: IdText | null = null;

  constructor(private readonly idPrefix: string) {}

  /** `id`: the caller's id, or a sequence number for a generated one. */
  push(id: string | number, source: EventSource, ts: number, value: number, props: Props): void {
    const i = this.length++;
    if (i === this.ts.length) this.grow();
    this.ids[i] = id;
    if (typeof id === "string") this.explicit++;
    this.sources[i] = source;
    this.ts[i] = ts;
    this.values[i] = value;
    if (props !== undefined) {
      this.props[i] = props;
      this.withProps++;
    }
  }

  explicitId(i: number): string | undefined {
    const id = this.ids[i];
    return typeof id === "string" ? id : undefined;
  }

  snapshot(): EventBuffer {
    const copy = new EventBuffer(this.idPrefix);
    const n = this.length;
    copy.length = n;
    copy.explicit = this.explicit;
    copy.ids = this.ids.slice(0, n);
    copy.sources = this.sources.slice(0, n);
    copy.ts = this.ts.slice(0, Math.max(n, 1));
    copy.values = this.values.slice(0, Math.max(n, 1));
    if (this.withProps > 0) {
      copy.props = this.props.slice(0, n);
      copy.withProps = this.withProps;
    }
    return copy;
  }

  /** Drop the newest event (a synchronous write that failed must leave no trace, R13). */
  pop(): void {
    if (this.length === 0) return;
    const i = --this.length;
    if (typeof this.ids[i] === "string") this.explicit--;
    if (this.props[i] !== undefined) {
      this.props[i] = undefined;
      this.withProps--;
    }
  }

  event(i: number): StoredEvent {
    const v = this.values[i] as number;
    const value = Number.isNaN(v) ? null : v;
    const source = this.sources[i] as EventSource;
    const id = this.ids[i] as string | number;
    let properties: Record<string, PropertyValue> | null = this.props[i] ?? null;
    if (source.filterProps !== null) properties = { ...source.filterProps, ...properties };
    if (source.valueProp !== null && value !== null)
      properties = { ...properties, [source.valueProp]: value };
    return {
      id: typeof id === "string" ? id : generatedId(this.idPrefix, id),
      type: source.eventType,
      customer: source.customer,
      ts: this.ts[i] as number,
      value,
      properties,
    };
  }

  fill(i: number, out: unknown[], at: number): void {
    const source = this.sources[i] as EventSource;
    const id = this.ids[i] as string | number;
    const v = this.values[i] as number;
    out[at] = typeof id === "string" ? id : (this.idText ??= new IdText(this.idPrefix)).of(id);
    out[at + 1] = source.eventType;
    out[at + 2] = source.customer;
    out[at + 3] = this.ts[i];
    out[at + 4] = Number.isNaN(v) ? null : v;
    if (source.filterProps === null && source.valueProp === null && this.props[i] === undefined)
      out[at + 5] = null;
    else {
      const p = this.event(i).properties;
      out[at + 5] = p === null ? null : JSON.stringify(p);
    }
  }

  clear(): void {
    // Keep the columns' capacity; only drop references that would keep caller objects alive.
    this.length = 0;
    this.explicit = 0;
    if (this.withProps > 0) {
      this.props.fill(undefined);
      this.withProps = 0;
    }
  }

  private grow(): void {
    this.ts = resized(this.ts, this.ts.length * 2);
    this.values = resized(this.values, this.values.length * 2);
  }
}

export function generatedId(prefix: string, seq: number): string {
  return prefix + seq.toString(36);
}

/** The counters changed since the last flush, by id, read through the engine's counter table. */
export class DirtyCounters implements CounterColumns {
  length = 0;
  ids = new Int32Array(1024);

  constructor(readonly table: CounterTable) {}

  push(id: number): void {
    if (this.length === this.ids.length) this.ids = resized(this.ids, this.length * 2);
    this.ids[this.length++] = id;
  }

  /** Empty the queue and clear its counters' `queued` flags. */
  clear(): void {
    const queued = this.table.queued;
    const ids = this.ids;
    for (let i = 0; i < this.length; i++) queued[ids[i] as number] = 0;
    this.length = 0;
  }

  id(i: number): number {
    return this.ids[i] as number;
  }
  key(i: number): string {
    return (this.table.counters[this.ids[i] as number] as Counter).key;
  }
  owner(i: number): string {
    return (this.table.counters[this.ids[i] as number] as Counter).owner;
  }
  entitlement(i: number): string {
    return (this.table.counters[this.ids[i] as number] as Counter).entitlement;
  }
  periodStart(i: number): number {
    return this.table.periodStart[this.ids[i] as number] as number;
  }
  used(i: number): number {
    return this.table.rec[(this.ids[i] as number) * STRIDE + USED] as number;
  }
  events(i: number): number {
    return this.table.rec[(this.ids[i] as number) * STRIDE + EVENTS] as number;
  }
  periodState(i: number): string | null {
    return (this.table.counters[this.ids[i] as number] as Counter).periodState();
  }
}

/** Everything not yet persisted: events, counters that changed, hold and plan changes. */
export class WriteBehind {
  readonly events: EventBuffer;
  readonly dirty: DirtyCounters;
  holdsUpsert: HoldRow[] = [];
  holdsDelete: string[] = [];
  subscriptions: SubscriptionRow[] = [];
  /** The engine's wallets: their ledger rows and changed wallets go with the batch. */
  wallets: Wallets | null = null;

  constructor(
    idPrefix: string,
    private readonly table: CounterTable,
  ) {
    this.events = new EventBuffer(idPrefix);
    this.dirty = new DirtyCounters(table);
  }

  get pending(): boolean {
    return (
      this.events.length > 0 ||
      this.dirty.length > 0 ||
      this.holdsUpsert.length > 0 ||
      this.holdsDelete.length > 0 ||
      this.subscriptions.length > 0 ||
      this.wallets?.pending === true
    );
  }

  /** Queue counter `id` for the next flush (once per flush). */
  markDirty(id: number): void {
    const queued = this.table.queued;
    if (queued[id] !== 0) return;
    queued[id] = 1;
    this.dirty.push(id);
  }

  batch(version: number, digest: string, at: number): WriteBatch {
    const wallets = this.wallets;
    const batch: WriteBatch = {
      at,
      events: this.events,
      bundleVersion: version,
      bundleDigest: digest,
      counters: this.dirty,
      holdsUpsert: this.holdsUpsert,
      holdsDelete: this.holdsDelete,
      subscriptions: this.subscriptions,
    };
    if (wallets?.pending === true) batch.wallets = wallets.batch();
    return batch;
  }

  /**
   * Drop the queued counter and hold changes, keeping events and plan changes:
   * after a lost store lease they describe a view another engine replaced.
   */
  forgetState(): void {
    this.dirty.clear();
    this.holdsUpsert = [];
    this.holdsDelete = [];
  }

  /** The batch is durable: forget it (its changed counters too, unless it was written without them). */
  committed(counters = true): void {
    this.events.clear();
    if (counters) this.dirty.clear();
    this.holdsUpsert = [];
    this.holdsDelete = [];
    this.subscriptions = [];
    this.wallets?.committed();
  }
}
