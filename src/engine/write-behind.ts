import type { Counter } from "../core/engine/counter.js";
import type {
  EventColumns,
  HoldRow,
  StoredEvent,
  SubscriptionRow,
  WriteBatch,
} from "../core/engine/store-port.js";
import type { PropertyValue } from "../core/model.js";

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

/**
 * Usage events waiting for the next flush, kept as parallel columns so that
 * buffering a call allocates no object. A generated id is kept as its
 * sequence number and turned into text (per-engine prefix + base 36) only
 * when flushed.
 */
export class EventBuffer implements EventColumns {
  length = 0;
  private ids: (string | number)[] = [];
  private sources: EventSource[] = [];
  private ts: number[] = [];
  /** NaN = no value (keeps the column a plain array of doubles). */
  private values: number[] = [];
  private props: Props[] = [];

  constructor(private readonly idPrefix: string) {}

  /** `id`: the caller's id, or a sequence number for a generated one. */
  push(id: string | number, source: EventSource, ts: number, value: number, props: Props): void {
    const i = this.length++;
    this.ids[i] = id;
    this.sources[i] = source;
    this.ts[i] = ts;
    this.values[i] = value;
    this.props[i] = props;
  }

  explicitId(i: number): string | undefined {
    const id = this.ids[i];
    return typeof id === "string" ? id : undefined;
  }

  snapshot(): EventBuffer {
    const copy = new EventBuffer(this.idPrefix);
    const n = this.length;
    copy.length = n;
    copy.ids = this.ids.slice(0, n);
    copy.sources = this.sources.slice(0, n);
    copy.ts = this.ts.slice(0, n);
    copy.values = this.values.slice(0, n);
    copy.props = this.props.slice(0, n);
    return copy;
  }

  /** Drop the newest event (a synchronous write that failed must leave no trace, R13). */
  pop(): void {
    if (this.length > 0) this.length--;
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

  clear(): void {
    // Keep the columns' capacity; only drop references that would keep caller objects alive.
    this.length = 0;
    this.props.fill(undefined);
  }
}

export function generatedId(prefix: string, seq: number): string {
  return prefix + seq.toString(36);
}

/** Everything not yet persisted: events, counters that changed, hold and plan changes. */
export class WriteBehind {
  readonly events: EventBuffer;
  readonly dirty: Counter[] = [];
  /** Counters whose `flushGen` equals this are already queued; bumping it un-queues them all at once. */
  private gen = 1;
  holdsUpsert: HoldRow[] = [];
  holdsDelete: string[] = [];
  subscriptions: SubscriptionRow[] = [];

  constructor(idPrefix: string) {
    this.events = new EventBuffer(idPrefix);
  }

  get pending(): boolean {
    return (
      this.events.length > 0 ||
      this.dirty.length > 0 ||
      this.holdsUpsert.length > 0 ||
      this.holdsDelete.length > 0 ||
      this.subscriptions.length > 0
    );
  }

  markDirty(counter: Counter): void {
    if (counter.flushGen === this.gen) return;
    counter.flushGen = this.gen;
    this.dirty.push(counter);
  }

  batch(version: number, digest: string, at: number): WriteBatch {
    return {
      at,
      events: this.events,
      bundleVersion: version,
      bundleDigest: digest,
      counters: this.dirty,
      holdsUpsert: this.holdsUpsert,
      holdsDelete: this.holdsDelete,
      subscriptions: this.subscriptions,
    };
  }

  /** The batch is durable: forget it. */
  committed(): void {
    this.events.clear();
    this.gen++;
    this.dirty.length = 0;
    this.holdsUpsert = [];
    this.holdsDelete = [];
    this.subscriptions = [];
  }
}
