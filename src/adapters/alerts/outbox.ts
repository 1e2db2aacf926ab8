import type { AlertState } from "../../core/alerts/rules.js";
import type { Db } from "../store/database.js";
import type { AlertNotification } from "./delivery.js";

/**
 * Alert state and the delivery outbox, in the usage store. A notification is
 * written to the outbox in the same transaction that moves the rule's state,
 * so a crash between "fired" and "sent" re-sends on the next run instead of
 * losing it, and a restart never fires the same (rule, customer, period) twice.
 */
export interface StateKey {
  alert: string;
  customer: string;
  entitlement: string;
  periodStart: number;
}

export interface PendingDelivery {
  note: AlertNotification;
  channel: string;
  attempts: number;
}

export class AlertStore {
  private readonly getState;
  private readonly putState;
  private readonly enqueue;
  private readonly due;
  private readonly done;
  private readonly failed;

  constructor(private readonly db: Db) {
    this.getState = db.prepare<[string, string, string, number], { state: AlertState }>(
      "SELECT state FROM alert_state WHERE alert = ? AND customer = ? AND entitlement = ? AND period_start = ?",
    );
    this.putState = db.prepare(
      `INSERT INTO alert_state (alert, customer, entitlement, period_start, state, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (alert, customer, entitlement, period_start) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
    );
    this.enqueue = db.prepare(
      `INSERT OR IGNORE INTO alert_outbox (id, channel, payload, attempts, created_at, next_attempt_at) VALUES (?, ?, ?, 0, ?, ?)`,
    );
    this.due = db.prepare<[number], { id: string; channel: string; payload: string; attempts: number }>(
      `SELECT id, channel, payload, attempts FROM alert_outbox
       WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY created_at, id, channel`,
    );
    this.done = db.prepare(
      "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + ?, last_error = NULL WHERE id = ? AND channel = ?",
    );
    this.failed = db.prepare(
      "UPDATE alert_outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND channel = ?",
    );
  }

  state(key: StateKey): AlertState {
    return this.getState.get(key.alert, key.customer, key.entitlement, key.periodStart)?.state ?? "armed";
  }

  /** Move a rule's state and queue its notification for each channel, atomically. */
  record(
    key: StateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): void {
    this.db.transaction(() => {
      this.putState.run(key.alert, key.customer, key.entitlement, key.periodStart, state, now);
      if (note) for (const ch of channels) this.enqueue.run(note.id, ch, JSON.stringify(note), now, now);
    })();
  }

  pending(now: number): PendingDelivery[] {
    return this.due.all(now).map((r) => ({
      note: JSON.parse(r.payload) as AlertNotification,
      channel: r.channel,
      attempts: r.attempts,
    }));
  }

  delivered(id: string, channel: string, attempts: number, now: number): void {
    this.done.run(now, attempts, id, channel);
  }

  retryLater(id: string, channel: string, attempts: number, nextAttemptAt: number, error: string): void {
    this.failed.run(attempts, nextAttemptAt, error, id, channel);
  }
}
