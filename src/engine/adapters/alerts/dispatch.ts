import type { CompiledChannel } from "../../core/model.js";
import type { AlertOutbox } from "../../core/usage/store-port.js";
import { type AlertNotification, type DeliveryResult, type RetryPolicy, withRetries } from "./delivery.js";
import { sendSlack } from "./slack.js";
import { sendWebhook } from "./webhook.js";

/** Sends one notification to one channel of a given type. */
export type ChannelSender = (
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
) => Promise<DeliveryResult>;

/**
 * Senders for the channel types the engine cannot deliver itself. Webhooks and
 * Slack are plain HTTPS POSTs; email needs an SMTP client, which the CLI
 * brings (`limitr serve`, `limitr alerts check`) and a service may pass.
 */
export interface ChannelSenders {
  email?: ChannelSender;
}

/** Send one notification to one channel, whatever its type. */
export function sendTo(
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  senders: ChannelSenders = {},
): Promise<DeliveryResult> {
  switch (channel.type) {
    case "webhook":
      return sendWebhook(channel, note, env, timeoutMs, Math.floor(Date.now() / 1000));
    case "slack":
      return sendSlack(channel, note, env, timeoutMs);
    case "email":
      if (senders.email) return senders.email(channel, note, env, timeoutMs);
      return Promise.resolve({
        ok: false,
        retryable: true,
        error: `channel ${channel.id}: no email sender in this process (limitr-cli delivers email; pass deliverAlerts.email to the engine)`,
      });
  }
}

export interface DrainReport {
  delivered: { id: string; channel: string; attempts: number }[];
  failed: { id: string; channel: string; attempts: number; error: string }[];
  /**
   * Deliveries an earlier run started and never confirmed (it stopped
   * mid-send): the receiver may have them already. They are sent again.
   */
  unconfirmed: { id: string; channel: string; since: string }[];
}

/**
 * Deliver everything due in the outbox, with retries per item. What still
 * fails stays in the outbox for the next run; nothing is dropped. A channel
 * that fails after its retries is not tried again in this run: the rest of
 * its items wait for the next run instead of each paying the full backoff.
 */
export async function drainOutbox(
  store: AlertOutbox<AlertNotification>,
  channels: Record<string, CompiledChannel>,
  env: NodeJS.ProcessEnv,
  retry: RetryPolicy,
  now: () => number = Date.now,
  senders: ChannelSenders = {},
): Promise<DrainReport> {
  const report: DrainReport = { delivered: [], failed: [], unconfirmed: [] };
  const down = new Map<string, string>();
  for (const item of await store.pending(now())) {
    if (item.unconfirmedSince !== null) {
      report.unconfirmed.push({
        id: item.note.id,
        channel: item.channel,
        since: new Date(item.unconfirmedSince).toISOString(),
      });
    }
    const channel = channels[item.channel];
    const downError = down.get(item.channel);
    if (downError !== undefined) {
      const error = `not attempted: ${item.channel} failed earlier in this run (${downError})`;
      await store.retryLater(item.note.id, item.channel, 0, now(), error);
      report.failed.push({ id: item.note.id, channel: item.channel, attempts: 0, error });
      continue;
    }
    if (!channel) {
      await store.retryLater(
        item.note.id,
        item.channel,
        1,
        now() + 3_600_000,
        `channel ${item.channel} is no longer in the policy`,
      );
      report.failed.push({ id: item.note.id, channel: item.channel, attempts: 1, error: "unknown channel" });
      continue;
    }
    let result: DeliveryResult & { attempts: number };
    await store.sending(item.note.id, item.channel, now());
    try {
      result = await withRetries(() => sendTo(channel, item.note, env, retry.timeoutMs, senders), retry);
    } catch (err) {
      // Configuration problems (a missing ${ENV}) are not retried within this run.
      result = { ok: false, retryable: true, attempts: 1, error: (err as Error).message };
    }
    if (result.ok) {
      await store.delivered(item.note.id, item.channel, result.attempts, now());
      report.delivered.push({ id: item.note.id, channel: item.channel, attempts: result.attempts });
    } else {
      const error = result.error ?? "delivery failed";
      if (result.retryable) down.set(item.channel, error);
      await store.retryLater(item.note.id, item.channel, result.attempts, now(), error);
      report.failed.push({ id: item.note.id, channel: item.channel, attempts: result.attempts, error });
    }
  }
  return report;
}
