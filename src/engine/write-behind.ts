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

/**
 * Usage events waiting for the next flush, kept as parallel columns so that
 * buffering a call allocates no object. Generated ids are a per-engine prefix
 * plus a sequence number, turned into text only when flushed.
 */
export class EventBuffer implements EventColumns {
  length = 0;
  private ids: (string | undefined)[] = [];
  private seqs: number[] = [];
  private types: string[] = [];
  private customers: string[] = [];
  private ts: number[] = [];
  private values: (number | null)[] = [];
  private props: Props[] = [];
  /** The meter's property: an `allow` of n units is stored with `properties[property] = n` so raters read it. */
  private valueProps: (string | null)[] = [];

  constructor(private readonly idPrefix: string) {}

  push(
    id: string | undefined,
    seq: number,
    type: string,
    customer: string,
    ts: number,
    value: number | null,
    props: Props,
    valueProp: string | null,
  ): void {
    const i = this.length++;
    this.ids[i] = id;
    this.seqs[i] = seq;
    this.types[i] = type;
    this.customers[i] = customer;
    this.ts[i] = ts;
    this.values[i] = value;
    this.props[i] = props;
    this.valueProps[i] = valueProp;
  }

  explicitId(i: number): string | undefined {
    return this.ids[i];
  }

  snapshot(): EventBuffer {
    const copy = new EventBuffer(this.idPrefix);
    const n = this.length;
    copy.length = n;
    copy.ids = this.ids.slice(0, n);
    copy.seqs = this.seqs.slice(0, n);
    copy.types = this.types.slice(0, n);
    copy.customers = this.customers.slice(0, n);
    copy.ts = this.ts.slice(0, n);
    copy.values = this.values.slice(0, n);
    copy.props = this.props.slice(0, n);
    copy.valueProps = this.valueProps.slice(0, n);
    return copy;
  }

  /** Drop the newest event (a synchronous write that failed must leave no trace, R13). */
  pop(): void {
    if (this.length > 0) this.length--;
  }

  event(i: number): StoredEvent {
    const value = this.values[i] ?? null;
    const valueProp = this.valueProps[i] ?? null;
    let properties: Record<string, PropertyValue> | null = this.props[i] ?? null;
    if (valueProp !== null && value !== null) properties = { ...properties, [valueProp]: value };
    return {
      id: this.ids[i] ?? generatedId(this.idPrefix, this.seqs[i] as number),
      type: this.types[i] as string,
      customer: this.customers[i] as string,
      ts: this.ts[i] as number,
      value,
      properties,
    };
  }

  clear(): void {
    // Keep the arrays' capacity; shrink only the logical length (stale slots are overwritten).
    this.length = 0;
    if (this.ids.length > 200_000) {
      this.ids = [];
      this.seqs = [];
      this.types = [];
      this.customers = [];
      this.ts = [];
      this.values = [];
      this.props = [];
      this.valueProps = [];
    }
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
    if (counter.dirty) return;
    counter.dirty = true;
    this.dirty.push(counter);
  }

  batch(version: number, digest: string, now: number): WriteBatch {
    return {
      events: this.events,
      bundleVersion: version,
      bundleDigest: digest,
      counters: this.dirty.map((c) => ({
        key: c.key,
        owner: c.owner,
        entitlement: c.entitlement,
        periodStart: c.periodStart,
        used: c.used,
        events: c.events,
        updatedAt: now,
      })),
      holdsUpsert: this.holdsUpsert,
      holdsDelete: this.holdsDelete,
      subscriptions: this.subscriptions,
    };
  }

  /** The batch is durable: forget it. */
  committed(): void {
    this.events.clear();
    for (const c of this.dirty) c.dirty = false;
    this.dirty.length = 0;
    this.holdsUpsert = [];
    this.holdsDelete = [];
    this.subscriptions = [];
  }
}
