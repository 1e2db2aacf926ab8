import pg from "pg";
import type { AlertState } from "../../../core/alerts/rules.js";
import type { AlertNotification } from "../../alerts/delivery.js";
import { MemoryAlertStore } from "../../alerts/memory-outbox.js";
import type { EngineOutbox, PendingDelivery, StateKey } from "../../alerts/outbox.js";
import type { PgLocation } from "./url.js";

/** A state move the engine made, on its way to Postgres. */
interface Move {
  kind: "move";
  key: StateKey;
  from: AlertState;
  to: AlertState;
  note: AlertNotification | null;
  channels: string[];
  now: number;
}

/** A delivery's progress, on its way to Postgres. */
interface Progress {
  kind: "sending" | "delivered" | "retry";
  id: string;
  channel: string;
  at: number;
  attempts: number;
  error: string | null;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;

const SQL = {
  // The move commits only from the state this engine saw: of several engines making it, one wins.
  move: `INSERT INTO alert_state (alert, customer, entitlement, period_start, state, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (alert, customer, entitlement, period_start) DO UPDATE
      SET state = excluded.state, updated_at = excluded.updated_at
      WHERE alert_state.state = $7
    RETURNING 1`,
  current: `SELECT state FROM alert_state
    WHERE alert = $1 AND customer = $2 AND entitlement = $3 AND period_start = $4`,
  outbox: `INSERT INTO alert_outbox (id, channel, payload, attempts, created_at, next_attempt_at)
    SELECT $1, ch, $3, 0, $4, $4 FROM unnest($2::text[]) AS ch ON CONFLICT DO NOTHING`,
  sending: "UPDATE alert_outbox SET sending_at = $1 WHERE id = $2 AND channel = $3",
  delivered: `UPDATE alert_outbox SET delivered_at = $1, attempts = attempts + $2, last_error = NULL, sending_at = NULL
    WHERE id = $3 AND channel = $4`,
  retry: `UPDATE alert_outbox SET attempts = attempts + $1, next_attempt_at = $2, last_error = $3, sending_at = NULL
    WHERE id = $4 AND channel = $5`,
} as const;

/**
 * Live alert state and the delivery outbox of an engine on a Postgres store:
 * the tables `limitr alerts check --db postgres://...` reads and writes
 * (`alert_state`, `alert_outbox`). The engine reads and moves states in
 * memory, synchronously, off the decision path; each move is then written
 * behind, in order, one transaction each, retried with backoff until it
 * commits.
 *
 * A move commits only if the stored state is still the one the engine moved
 * from, so of several engines sharing the store that see the same crossing,
 * one records it and queues its notification; the others adopt the stored
 * state and drop theirs. A notification is delivered only once its move has
 * committed. States are read at open; an engine restarted later keeps its
 * rules' states (a `once` rule does not fire again).
 */
export class PgEngineAlerts implements EngineOutbox {
  /** States and deliveries as this engine sees them; a delivery waits for its move's commit. */
  private readonly local = new MemoryAlertStore(true);
  private readonly queue: (Move | Progress)[] = [];
  private writing = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly waiters: (() => void)[] = [];
  lastError: string | null = null;
  /** Called when a notification became deliverable (its move committed). */
  onConfirmed: () => void = () => {};

  private constructor(private readonly pool: pg.Pool) {}

  /** Connect and read every rule state. */
  static async open(location: PgLocation): Promise<PgEngineAlerts> {
    const pool = new pg.Pool({
      connectionString: location.connectionString,
      max: 1,
      types: { getTypeParser: asNumber },
      ...(location.schema ? { options: `-c search_path=${location.schema}` } : {}),
      connectionTimeoutMillis: 10_000,
    });
    pool.on("error", () => {});
    pool.on("connect", (client) => client.on("error", () => {}));
    try {
      const r = await pool.query<StateKey & { state: AlertState }>(
        `SELECT alert, customer, entitlement, period_start AS "periodStart", state FROM alert_state`,
      );
      const store = new PgEngineAlerts(pool);
      for (const row of r.rows) store.local.adopt(row, row.state);
      return store;
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  }

  state(key: StateKey): AlertState {
    return this.local.state(key);
  }

  record(
    key: StateKey,
    state: AlertState,
    note: AlertNotification | null,
    channels: string[],
    now: number,
  ): void {
    const from = this.local.state(key);
    this.local.record(key, state, note, channels, now);
    this.push({ kind: "move", key, from, to: state, note, channels, now });
  }

  pending(now: number): PendingDelivery[] {
    return this.local.pending(now);
  }

  depth(): number {
    return this.local.depth();
  }

  sending(id: string, channel: string, now: number): void {
    this.local.sending(id, channel, now);
    this.push({ kind: "sending", id, channel, at: now, attempts: 0, error: null });
  }

  delivered(id: string, channel: string, attempts: number, now: number): void {
    this.local.delivered(id, channel);
    this.push({ kind: "delivered", id, channel, at: now, attempts, error: null });
  }

  retryLater(id: string, channel: string, attempts: number, nextAttemptAt: number, error: string): void {
    this.local.retryLater(id, channel, attempts, nextAttemptAt);
    this.push({ kind: "retry", id, channel, at: nextAttemptAt, attempts, error });
  }

  /** Resolves once every move and progress so far is committed; rejects after `timeoutMs`. */
  drain(timeoutMs = 30_000): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new Error(`alert state: ${this.queue.length} changes not written: ${this.lastError ?? "writing"}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  /** Write what is queued (up to `timeoutMs`), then release the connection. */
  async close(timeoutMs = 30_000): Promise<void> {
    if (this.closed) return;
    try {
      await this.drain(timeoutMs);
    } finally {
      this.closeSync();
    }
  }

  /** Release the connection now (what is not written yet is dropped). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    void this.pool.end().catch(() => {});
  }

  private push(change: Move | Progress): void {
    if (this.closed) return;
    this.queue.push(change);
    this.kick();
  }

  private kick(): void {
    if (this.writing || this.retryTimer !== null || this.closed) return;
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.writing = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const change = this.queue[0] as Move | Progress;
        try {
          if (change.kind === "move") await this.move(change);
          else await this.progress(change);
        } catch (err) {
          this.lastError = `cannot write alert state: ${(err as Error).message}`;
          const wait = this.retryMs;
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.kick();
          }, wait);
          this.retryTimer.unref();
          return;
        }
        this.queue.shift();
        this.retryMs = RETRY_MIN_MS;
        this.lastError = null;
      }
      for (const w of this.waiters.splice(0)) w();
    } finally {
      this.writing = false;
    }
  }

  /** One move in one transaction: the state (if still `from`) and its outbox rows. */
  private async move(m: Move): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const k = m.key;
    try {
      await client.query("BEGIN");
      const won = await client.query(SQL.move, [
        k.alert,
        k.customer,
        k.entitlement,
        k.periodStart,
        m.to,
        m.now,
        m.from,
      ]);
      let stored: AlertState = m.to;
      let confirmed = won.rowCount !== 0;
      if (!confirmed && m.note !== null) {
        // A move resent after its commit's reply was lost: its outbox rows are there.
        const mine = await client.query("SELECT 1 FROM alert_outbox WHERE id = $1 LIMIT 1", [m.note.id]);
        confirmed = mine.rowCount !== 0;
      }
      if (!confirmed) {
        const r = await client.query<{ state: AlertState }>(SQL.current, [
          k.alert,
          k.customer,
          k.entitlement,
          k.periodStart,
        ]);
        stored = r.rows[0]?.state ?? m.to;
      } else if (m.note !== null && m.channels.length > 0) {
        await client.query(SQL.outbox, [m.note.id, m.channels, JSON.stringify(m.note), m.now]);
      }
      await client.query("COMMIT");
      if (!confirmed && this.local.state(k) === m.to) this.local.adopt(k, stored);
      if (m.note !== null) {
        // Another engine made this move first: its notification is the one delivered.
        if (confirmed) this.local.confirm(m.note.id, m.channels);
        else this.local.withdraw(m.note.id, m.channels);
        if (confirmed && m.channels.length > 0) this.onConfirmed();
      }
    } catch (err) {
      broken = err as Error;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async progress(p: Progress): Promise<void> {
    if (p.kind === "sending") await this.pool.query(SQL.sending, [p.at, p.id, p.channel]);
    else if (p.kind === "delivered")
      await this.pool.query(SQL.delivered, [p.at, p.attempts, p.id, p.channel]);
    else await this.pool.query(SQL.retry, [p.attempts, p.at, p.error, p.id, p.channel]);
  }
}

function asNumber(oid: number, format?: "text" | "binary") {
  return oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format);
}
