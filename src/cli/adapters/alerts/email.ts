import type { AlertNotification, DeliveryResult } from "limitr-engine/adapters/alerts/delivery";
import { resolveEnvRefs } from "limitr-engine/adapters/alerts/env-refs";
import type { CompiledChannel } from "limitr-engine/core/model";
import nodemailer from "nodemailer";

/** Plain-text body: the rule, the customer and every figure, one per line. */
export function emailText(note: AlertNotification): { subject: string; text: string } {
  const verb = note.event === "alert.resolved" ? "resolved" : "triggered";
  const subject = `[limitr] ${note.alert} ${verb}: ${note.customer}`;
  const lines = [
    `Alert ${note.alert} ${verb} for customer ${note.customer} on plan ${note.plan}.`,
    note.entitlement ? `Entitlement: ${note.entitlement}` : "",
    `Period: ${note.period.start} to ${note.period.end}`,
    "",
    ...Object.entries(note.figures).map(([k, v]) => `${k}: ${v ?? "-"}`),
    "",
    `Notification id: ${note.id}`,
  ];
  return { subject, text: lines.filter((l, i) => l !== "" || i > 2).join("\n") };
}

/**
 * SMTP delivery. The channel url is an `smtp://` or `smtps://` URL whose
 * credentials come from `${ENV}` references; `to` lists the recipients and a
 * `from` query parameter (default alerts@<host>) sets the sender.
 */
export async function sendEmail(
  channel: CompiledChannel,
  note: AlertNotification,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<DeliveryResult> {
  const url = new URL(resolveEnvRefs(channel.url, env, `channel ${channel.id} url`));
  const from = url.searchParams.get("from") ?? `limitr-alerts@${url.hostname || "localhost"}`;
  url.search = "";
  const transport = nodemailer.createTransport({
    url: url.toString(),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    ignoreTLS: url.protocol === "smtp:" && url.searchParams.get("starttls") === "never",
  });
  const { subject, text } = emailText(note);
  try {
    const info = await transport.sendMail({
      from,
      to: channel.to,
      subject,
      text,
      headers: { "X-Limitr-Delivery-Id": note.id },
      messageId: `<${note.id}@limitr>`,
    });
    return { ok: info.rejected.length === 0, retryable: info.rejected.length > 0, status: 250 };
  } catch (err) {
    const e = err as Error & { responseCode?: number; code?: string };
    const permanent = e.responseCode !== undefined && e.responseCode >= 500 && e.responseCode < 600;
    return { ok: false, retryable: !permanent, status: e.responseCode, error: e.code ?? e.message };
  } finally {
    transport.close();
  }
}
