import { DEFAULT_RETRY, type RetryPolicy } from "../adapters/alerts/delivery.js";
import { type ChannelSender, drainOutbox } from "../adapters/alerts/dispatch.js";
import type { EngineOutbox } from "../adapters/alerts/outbox.js";
import type { CompiledChannel } from "../core/model.js";

/** `deliverAlerts` options of `Limitr.open` (SPEC §13: long-running processes deliver continuously). */
export interface DeliverAlertsOptions {
  /** How often the outbox is looked at for retries that came due (ms, default 1000). A firing is sent at once. */
  intervalMs?: number;
  /** Where `${NAME}` references in channel URLs and secrets are read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Retries per delivery within one pass (default 4 attempts, 250 ms to 5 s backoff, 5 s timeout). */
  retry?: RetryPolicy;
  /** Sends `type: email` channels; without it they stay in the outbox with an error saying so. */
  email?: ChannelSender;
  /** Longest wait for the last pass when the engine closes (ms, default 5000); what is left stays queued. */
  closeTimeoutMs?: number;
}

export interface DeliveryStatus {
  /** Deliveries waiting (due now or for a retry later). */
  pending: number;
  delivered: number;
  failed: number;
  lastError: string | null;
}

/**
 * Drains the alert outbox from inside a long-running engine: right after a
 * rule fires, and on an interval for retries that came due. One pass at a
 * time; a firing during a pass schedules another. Each delivery keeps the
 * outbox's bookkeeping (recorded before and after the send), so a process
 * killed mid-send re-sends on its next start, never loses a notification.
 */
export class AlertDelivery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private delivered = 0;
  private failed = 0;
  private lastError: string | null = null;

  constructor(
    private readonly outbox: EngineOutbox,
    private readonly channels: () => Record<string, CompiledChannel>,
    private readonly options: DeliverAlertsOptions,
  ) {
    this.timer = setInterval(() => this.kick(), Math.max(50, options.intervalMs ?? 1000));
    this.timer.unref();
  }

  /** Start a pass now (or right after the one in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.pass(this.options.retry ?? DEFAULT_RETRY).finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  status(): DeliveryStatus {
    let pending = 0;
    try {
      pending = this.outbox.depth();
    } catch {
      // A closed or unreachable store: the count is unknown, lastError says why.
    }
    return { pending, delivered: this.delivered, failed: this.failed, lastError: this.lastError };
  }

  /**
   * Stop the interval, wait for the pass in progress, then make one last
   * single-attempt pass bounded by `closeTimeoutMs` (the store must still be
   * open). What does not go out stays in the outbox for the next start.
   */
  async stop(): Promise<void> {
    this.stopTimer();
    const limit = Math.max(0, this.options.closeTimeoutMs ?? 5000);
    let late = false;
    const deadline = new Promise<void>((r) =>
      setTimeout(() => {
        late = true;
        r();
      }, limit).unref(),
    );
    // A pass in progress, and the one a firing during it asked for, go first: they carry what close() just fired.
    while (this.running !== null && !late) await Promise.race([this.running, deadline]);
    this.stopped = true;
    if (late) return;
    const retry = this.options.retry ?? DEFAULT_RETRY;
    const last = { ...retry, attempts: 1, timeoutMs: Math.min(retry.timeoutMs, limit) };
    await Promise.race([this.pass(last), deadline]);
  }

  /** Stop without a last pass (synchronous close). */
  stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async pass(retry: RetryPolicy): Promise<void> {
    try {
      const env = this.options.env ?? process.env;
      const email = this.options.email;
      const report = await drainOutbox(
        this.outbox,
        this.channels(),
        env,
        retry,
        Date.now,
        email ? { email } : {},
      );
      this.delivered += report.delivered.length;
      this.failed += report.failed.length;
      const failure = report.failed[0];
      if (failure) this.lastError = `alert ${failure.id} -> ${failure.channel}: ${failure.error}`;
      else if (report.delivered.length > 0) this.lastError = null;
    } catch (err) {
      this.lastError = `alert delivery: ${(err as Error).message}`;
    }
  }
}
