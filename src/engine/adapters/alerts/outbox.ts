import type { AlertState } from "../../core/alerts/rules.js";
import type { AlertOutbox, AlertStateKey, PendingDelivery as Pending } from "../../core/usage/store-port.js";
import type { Db } from "../store/database.js";
import type { AlertNotification } from "./delivery.js";

export type StateKey = AlertStateKey;
export type PendingDelivery = Pending<AlertNotification>;

/**
 * Alert state and the delivery outbox, in the usage store. A notification is
 * written to the outbox in the same transaction that moves the rule's state,
 * so a crash between "fired" and "sent" re-sends on the next run instead of
 * losing it, and a restart never fires the same (rule, customer, period) twice.
 *
 * Each delivery is recorded before the send (`sending_at`, committed on its
 * own) and after it (`delivered_at`, or back to pending with the error). A
 * row still marked as sending when a run starts was being sent when an
 * earlier run stopped: whether the receiver got it is unknown, so it is
 * reported and sent again (at-least-once; webhook receivers deduplicate on
 * `Limitr-Delivery-Id`, Slack messages have no id and may show twice).
 */
/** Rule state for the engine's live rules: synchronous (the SQLite file, or the process). */
export interface AlertStateStore {
  state(key: StateKey): AlertState;
  /** Move a rule's state and queue its notification for each channel, atomically. */
  record(
    key: StateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): void;
}

/** An outbox an engine fills and drains in its own process: synchronous, and it can count what waits. */
export interface EngineOutbox extends AlertOutbox<AlertNotification> {
  state(key: StateKey): AlertState;
  record(
    key: StateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): void;
  pending(now: number): PendingDelivery[];
  /** Deliveries not yet confirmed (due now or later): what a shutdown would leave behind. */
  depth(): number;
}

export class AlertStore implements EngineOutbox {
  private readonly getState;
  private readonly putState;
  private readonly enqueue;
  private readonly due;
  private readonly done;
  private readonly failed;
  private readonly attempt;
  private readonly count;

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
    this.due = db.prepare<
      [number],
      { id: string; channel: string; payload: string; attempts: number; sending_at: number | null }
    >(
      `SELECT id, channel, payload, attempts, sending_at FROM alert_outbox
       WHERE delivered_at IS NULL AND (next_attempt_at <= ? OR sending_at IS NOT NULL) ORDER BY created_at, id, channel`,
    );
    this.done = db.prepare(
      "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + ?, last_error = NULL, sending_at = NULL WHERE id = ? AND channel = ?",
    );
    this.failed = db.prepare(
      "UPDATE alert_outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ?, sending_at = NULL WHERE id = ? AND channel = ?",
    );
    this.attempt = db.prepare("UPDATE alert_outbox SET sending_at = ? WHERE id = ? AND channel = ?");
    this.count = db.prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM alert_outbox WHERE delivered_at IS NULL",
    );
  }

  state(key: StateKey): AlertState {
    return this.getState.get(key.alert, key.customer, key.entitlement, key.periodStart)?.state ?? "armed";
  }

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
      unconfirmedSince: r.sending_at,
    }));
  }

  depth(): number {
    return this.count.get()?.n ?? 0;
  }

  /** Record, before the send, that a delivery is being attempted (its own commit). */
  sending(id: string, channel: string, now: number): void {
    this.attempt.run(now, id, channel);
  }

  delivered(id: string, channel: string, attempts: number, now: number): void {
    this.done.run(now, attempts, id, channel);
  }

  retryLater(id: string, channel: string, attempts: number, nextAttemptAt: number, error: string): void {
    this.failed.run(attempts, nextAttemptAt, error, id, channel);
  }
}
