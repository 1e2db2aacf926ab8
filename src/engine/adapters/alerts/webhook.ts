import type { CompiledChannel } from "../../core/model.js";
import { type AlertNotification, type DeliveryResult, postJson } from "./delivery.js";
import { resolveEnvRefs } from "./env-refs.js";
import { signPayload } from "./signature.js";

/** A JSON POST carrying the notification, signed with the channel secret when one is set. */
export async function sendWebhook(
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  nowSeconds: number,
): Promise<DeliveryResult> {
  const url = resolveEnvRefs(channel.url, env, `channel ${channel.id} url`);
  const body = JSON.stringify(note);
  const headers: Record<string, string> = { "limitr-delivery-id": note.id, "limitr-event": note.event };
  if (channel.secret) {
    const secret = resolveEnvRefs(channel.secret, env, `channel ${channel.id} secret`);
    headers["limitr-signature"] = signPayload(secret, body, nowSeconds);
  }
  return postJson(url, body, headers, timeoutMs);
}
