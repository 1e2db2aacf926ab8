import type {
  CounterRow,
  HoldRow,
  PolicyActivation,
  SubscriptionRow,
  WriteBatch,
} from "../../../core/engine/store-port.js";
import type { WalletRow, WalletTxRow } from "../../../core/wallet/store-rows.js";

/** Events as parallel columns: one `unnest` insert per chunk of them. */
export interface EventCols {
  id: string[];
  type: string[];
  customer: string[];
  ts: number[];
  value: (number | null)[];
  properties: (string | null)[];
  version: number[];
  digest: string[];
}

/**
 * What the engine handed to one or more `write` calls, as plain rows the
 * writer can send later (the engine reuses its buffers after `write`).
 * Merging keeps the last state of each counter, hold, plan row and wallet:
 * every statement is then idempotent, so a batch whose commit was not
 * acknowledged is sent again whole and changes nothing twice.
 */
export class PgRows {
  readonly events: EventCols = {
    id: [],
    type: [],
    customer: [],
    ts: [],
    value: [],
    properties: [],
    version: [],
    digest: [],
  };
  readonly counters = new Map<string, CounterRow>();
  readonly holdsUpsert = new Map<string, HoldRow>();
  readonly holdsDelete = new Set<string>();
  readonly subscriptions = new Map<string, SubscriptionRow>();
  readonly walletTx: WalletTxRow[] = [];
  readonly wallets = new Map<string, { row: WalletRow; at: number }>();
  readonly activations: PolicyActivation[] = [];

  get eventCount(): number {
    return this.events.id.length;
  }

  /** Copy what `write` needs of a batch (read now: the engine keeps changing its counters). */
  static of(b: WriteBatch): PgRows {
    const rows = new PgRows();
    const e = rows.events;
    for (let i = 0; i < b.events.length; i++) {
      const ev = b.events.event(i);
      e.id.push(ev.id);
      e.type.push(ev.type);
      e.customer.push(ev.customer);
      e.ts.push(ev.ts);
      e.value.push(ev.value !== null && Number.isFinite(ev.value) ? ev.value : null);
      e.properties.push(ev.properties === null ? null : JSON.stringify(ev.properties));
      e.version.push(b.bundleVersion);
      e.digest.push(b.bundleDigest);
    }
    const c = b.counters;
    for (let i = 0; i < c.length; i++) {
      const key = c.key(i);
      rows.counters.set(key, {
        key,
        owner: c.owner(i),
        entitlement: c.entitlement(i),
        periodStart: c.periodStart(i),
        used: c.used(i),
        events: c.events(i),
        updatedAt: b.at,
        periodState: c.periodState(i),
      });
    }
    for (const h of b.holdsUpsert) rows.holdsUpsert.set(h.id, { ...h });
    for (const id of b.holdsDelete) {
      rows.holdsUpsert.delete(id);
      rows.holdsDelete.add(id);
    }
    for (const s of b.subscriptions) rows.subscriptions.set(`${s.customer}\u0000${s.effectiveAt}`, { ...s });
    if (b.wallets !== undefined) {
      rows.walletTx.push(...b.wallets.transactions);
      for (const w of b.wallets.wallets) rows.wallets.set(w.customer, { row: w, at: b.at });
    }
    return rows;
  }

  /** Append `next` (written after this): its rows win over this one's. */
  merge(next: PgRows): void {
    const a = this.events;
    const b = next.events;
    for (const k of Object.keys(a) as (keyof EventCols)[]) {
      const into = a[k] as unknown[];
      for (const v of b[k] as unknown[]) into.push(v);
    }
    for (const [k, v] of next.counters) this.counters.set(k, v);
    for (const id of next.holdsDelete) {
      this.holdsUpsert.delete(id);
      this.holdsDelete.add(id);
    }
    for (const [id, h] of next.holdsUpsert) {
      this.holdsDelete.delete(id);
      this.holdsUpsert.set(id, h);
    }
    for (const [k, v] of next.subscriptions) this.subscriptions.set(k, v);
    for (const t of next.walletTx) this.walletTx.push(t);
    for (const [k, v] of next.wallets) this.wallets.set(k, v);
    for (const x of next.activations) this.activations.push(x);
  }
}
