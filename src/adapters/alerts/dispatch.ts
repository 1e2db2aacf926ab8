import type { CompiledChannel } from "../../core/model.js";
import { type AlertNotification, type DeliveryResult, type RetryPolicy, withRetries } from "./delivery.js";
import { sendEmail } from "./email.js";
import type { AlertStore } from "./outbox.js";
import { sendSlack } from "./slack.js";
import { sendWebhook } from "./webhook.js";

/** Send one notification to one channel, whatever its type. */
export function sendTo(
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<DeliveryResult> {
  switch (channel.type) {
    case "webhook":
      return sendWebhook(channel, note, env, timeoutMs, Math.floor(Date.now() / 1000));
    case "slack":
      return sendSlack(channel, note, env, timeoutMs);
    case "email":
      return sendEmail(channel, note, env, timeoutMs);
  }
}

export interface DrainReport {
  delivered: { id: string; channel: string; attempts: number }[];
  failed: { id: string; channel: string; attempts: number; error: string }[];
}

/**
 * Deliver everything due in the outbox, with retries per item. What still
 * fails stays in the outbox for the next run; nothing is dropped.
 */
export async function drainOutbox(
  store: AlertStore,
  channels: Record<string, CompiledChannel>,
  env: NodeJS.ProcessEnv,
  retry: RetryPolicy,
  now: () => number = Date.now,
): Promise<DrainReport> {
  const report: DrainReport = { delivered: [], failed: [] };
  for (const item of store.pending(now())) {
    const channel = channels[item.channel];
    if (!channel) {
      store.retryLater(
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
    try {
      result = await withRetries(() => sendTo(channel, item.note, env, retry.timeoutMs), retry);
    } catch (err) {
      // Configuration problems (a missing ${ENV}) are not retried within this run.
      result = { ok: false, retryable: true, attempts: 1, error: (err as Error).message };
    }
    if (result.ok) {
      store.delivered(item.note.id, item.channel, result.attempts, now());
      report.delivered.push({ id: item.note.id, channel: item.channel, attempts: result.attempts });
    } else {
      const error = result.error ?? "delivery failed";
      store.retryLater(item.note.id, item.channel, result.attempts, now(), error);
      report.failed.push({ id: item.note.id, channel: item.channel, attempts: result.attempts, error });
    }
  }
  return report;
}
