import type { AlertState } from "../../core/alerts/rules.js";
import type { AlertNotification } from "./delivery.js";
import type { EngineOutbox, PendingDelivery, StateKey } from "./outbox.js";

interface Item {
  note: AlertNotification;
  channel: string;
  attempts: number;
  nextAttemptAt: number;
  sendingAt: number | null;
  createdAt: number;
  /** May be delivered: always, unless the store is `gated` and the item is not confirmed yet. */
  confirmed: boolean;
}

/**
 * Rule state and outbox for engines on the memory store: the same contract as
 * the SQLite `AlertStore`, kept in this process (a restart forgets both, as it
 * forgets the memory store's counters). Delivered items are dropped.
 *
 * A `gated` store holds each queued notification back until `confirm`
 * (or drops it on `withdraw`): the in-process half of an outbox whose moves
 * commit elsewhere (`PgEngineAlerts`).
 */
export class MemoryAlertStore implements EngineOutbox {
  private readonly states = new Map<string, AlertState>();
  private readonly items = new Map<string, Item>();

  constructor(private readonly gated = false) {}

  state(key: StateKey): AlertState {
    return this.states.get(stateKey(key)) ?? "armed";
  }

  record(
    key: StateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): void {
    this.states.set(stateKey(key), state);
    if (note === null) return;
    for (const channel of channels) {
      const id = itemKey(note.id, channel);
      if (!this.items.has(id))
        this.items.set(id, {
          note,
          channel,
          attempts: 0,
          nextAttemptAt: now,
          sendingAt: null,
          createdAt: now,
          confirmed: !this.gated,
        });
    }
  }

  /** Set a rule's state without queueing anything (a state read or adopted from elsewhere). */
  adopt(key: StateKey, state: AlertState): void {
    this.states.set(stateKey(key), state);
  }

  /** A gated notification's move committed: its deliveries may go out. */
  confirm(noteId: string, channels: string[]): void {
    for (const channel of channels) {
      const item = this.items.get(itemKey(noteId, channel));
      if (item) item.confirmed = true;
    }
  }

  /** A gated notification's move lost to another writer: drop its deliveries. */
  withdraw(noteId: string, channels: string[]): void {
    for (const channel of channels) this.items.delete(itemKey(noteId, channel));
  }

  pending(now: number): PendingDelivery[] {
    return [...this.items.values()]
      .filter((i) => i.confirmed && (i.nextAttemptAt <= now || i.sendingAt !== null))
      .sort((a, b) => a.createdAt - b.createdAt || a.note.id.localeCompare(b.note.id))
      .map((i) => ({
        note: i.note,
        channel: i.channel,
        attempts: i.attempts,
        unconfirmedSince: i.sendingAt,
      }));
  }

  depth(): number {
    return this.items.size;
  }

  sending(id: string, channel: string, now: number): void {
    const item = this.items.get(itemKey(id, channel));
    if (item) item.sendingAt = now;
  }

  delivered(id: string, channel: string): void {
    this.items.delete(itemKey(id, channel));
  }

  retryLater(id: string, channel: string, attempts: number, nextAttemptAt: number): void {
    const item = this.items.get(itemKey(id, channel));
    if (!item) return;
    item.attempts += attempts;
    item.nextAttemptAt = nextAttemptAt;
    item.sendingAt = null;
  }
}

function stateKey(k: StateKey): string {
  return `${k.alert}\u0000${k.customer}\u0000${k.entitlement}\u0000${k.periodStart}`;
}

function itemKey(id: string, channel: string): string {
  return `${id}\u0000${channel}`;
}
