/**
 * One alert notification as it travels to a channel. `id` is stable for the
 * (rule, customer, period, transition) so receivers can deduplicate retries.
 */
export interface AlertNotification {
  id: string;
  event: "alert.triggered" | "alert.resolved";
  alert: string;
  customer: string;
  plan: string;
  entitlement: string | null;
  period: { start: string; end: string };
  figures: Record<string, number | string | null>;
  createdAt: string;
  version: number;
  digest: string;
}

export interface DeliveryResult {
  ok: boolean;
  /** HTTP status or SMTP reply code, when the receiver answered. */
  status?: number;
  error?: string;
  /** Worth trying again later (network failure, 5xx, 429); false for 4xx. */
  retryable: boolean;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
  timeoutMs: 5_000,
};

/** Exponential backoff with full jitter: a random delay in [0, min(max, base * 2^attempt)]. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * cap);
}

/** Run `send` until it succeeds, fails permanently, or attempts run out. */
export async function withRetries(
  send: () => Promise<DeliveryResult>,
  policy: RetryPolicy,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<DeliveryResult & { attempts: number }> {
  let last: DeliveryResult = { ok: false, retryable: true, error: "not attempted" };
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    if (attempt > 0) await sleep(backoffDelay(attempt, policy));
    last = await send();
    if (last.ok || !last.retryable) return { ...last, attempts: attempt + 1 };
  }
  return { ...last, attempts: policy.attempts };
}

/** POST a body and classify the answer. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<DeliveryResult> {
  try {
    const res = await fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "user-agent": "limitr-alerts", ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { ok: true, status: res.status, retryable: false };
    const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
    return { ok: false, status: res.status, retryable, error: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, retryable: true, error: e.cause?.code ?? e.name ?? e.message };
  }
}
