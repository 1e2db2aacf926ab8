import type pg from "pg";
import type { AlertState } from "../../../core/alerts/rules.js";
import type { AlertOutbox, AlertStateKey, PendingDelivery } from "../../../core/usage/store-port.js";
import type { AlertNotification } from "../../alerts/delivery.js";

/**
 * Alert state and the delivery outbox in the shared store, with the
 * guarantees of the SQLite outbox (`adapters/alerts/outbox.ts`): the state
 * move and its notifications commit together; a delivery is marked as being
 * sent before the send and as delivered (or failed) after it.
 */
export class PgAlertStore implements AlertOutbox<AlertNotification> {
  constructor(private readonly pool: pg.Pool) {}

  async state(key: AlertStateKey): Promise<AlertState> {
    const r = await this.pool.query<{ state: AlertState }>(
      "SELECT state FROM alert_state WHERE alert = $1 AND customer = $2 AND entitlement = $3 AND period_start = $4",
      [key.alert, key.customer, key.entitlement, key.periodStart],
    );
    return r.rows[0]?.state ?? "armed";
  }

  async record(
    key: AlertStateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO alert_state (alert, customer, entitlement, period_start, state, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (alert, customer, entitlement, period_start) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
        [key.alert, key.customer, key.entitlement, key.periodStart, state, now],
      );
      if (note && channels.length > 0) {
        await client.query(
          `INSERT INTO alert_outbox (id, channel, payload, attempts, created_at, next_attempt_at)
           SELECT $1, ch, $3, 0, $4, $4 FROM unnest($2::text[]) AS ch ON CONFLICT DO NOTHING`,
          [note.id, channels, JSON.stringify(note), now],
        );
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async pending(now: number): Promise<PendingDelivery<AlertNotification>[]> {
    const r = await this.pool.query<{
      channel: string;
      payload: string;
      attempts: number;
      sending_at: number | null;
    }>(
      `SELECT channel, payload, attempts, sending_at FROM alert_outbox
       WHERE delivered_at IS NULL AND (next_attempt_at <= $1 OR sending_at IS NOT NULL)
       ORDER BY created_at, id COLLATE "C", channel COLLATE "C"`,
      [now],
    );
    return r.rows.map((row) => ({
      note: JSON.parse(row.payload) as AlertNotification,
      channel: row.channel,
      attempts: row.attempts,
      unconfirmedSince: row.sending_at,
    }));
  }

  async sending(id: string, channel: string, now: number): Promise<void> {
    await this.pool.query("UPDATE alert_outbox SET sending_at = $1 WHERE id = $2 AND channel = $3", [
      now,
      id,
      channel,
    ]);
  }

  async delivered(id: string, channel: string, attempts: number, now: number): Promise<void> {
    await this.pool.query(
      "UPDATE alert_outbox SET delivered_at = $1, attempts = attempts + $2, last_error = NULL, sending_at = NULL WHERE id = $3 AND channel = $4",
      [now, attempts, id, channel],
    );
  }

  async retryLater(
    id: string,
    channel: string,
    attempts: number,
    nextAttemptAt: number,
    error: string,
  ): Promise<void> {
    await this.pool.query(
      "UPDATE alert_outbox SET attempts = attempts + $1, next_attempt_at = $2, last_error = $3, sending_at = NULL WHERE id = $4 AND channel = $5",
      [attempts, nextAttemptAt, error, id, channel],
    );
  }
}
