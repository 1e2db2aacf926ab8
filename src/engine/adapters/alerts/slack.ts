import type { CompiledChannel } from "../../core/model.js";
import { type AlertNotification, type DeliveryResult, postJson } from "./delivery.js";
import { resolveEnvRefs } from "./env-refs.js";

/** The message a Slack incoming webhook shows: who, which rule, the figures, one line of text. */
export function slackMessage(note: AlertNotification): { text: string; blocks: unknown[] } {
  const verb = note.event === "alert.resolved" ? "resolved" : "triggered";
  const scope = note.entitlement ? ` on ${note.entitlement}` : "";
  const text = `limitr: alert ${note.alert} ${verb} for ${note.customer} (${note.plan})${scope}`;
  const fields = Object.entries(note.figures)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => ({ type: "mrkdwn", text: `*${k}*\n${typeof v === "number" ? round(v) : v}` }))
    .slice(0, 10);
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      ...(fields.length > 0 ? [{ type: "section", fields }] : []),
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `period ${note.period.start} to ${note.period.end}` }],
      },
    ],
  };
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export async function sendSlack(
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<DeliveryResult> {
  const url = resolveEnvRefs(channel.url, env, `channel ${channel.id} url`);
  return postJson(url, JSON.stringify(slackMessage(note)), {}, timeoutMs);
}
