import { RemoteError } from "limitr-engine/core/errors";

/** What one invoice's push had done in Stripe when it stopped. */
export interface InvoiceProgress {
  number: string;
  stripeInvoice: string;
  /** Items created (or found) on the invoice / items the invoice has. */
  items: number;
  lines: number;
  finalized: boolean;
}

/** Where the SDK sends requests, for messages: `LIMITR_STRIPE_*` or api.stripe.com. */
export function stripeEndpoint(env: NodeJS.ProcessEnv): string {
  const protocol = env.LIMITR_STRIPE_PROTOCOL ?? "https";
  const host = env.LIMITR_STRIPE_HOST ?? "api.stripe.com";
  return `${protocol}://${host}${env.LIMITR_STRIPE_PORT ? `:${env.LIMITR_STRIPE_PORT}` : ""}`;
}

interface StripeLikeError {
  type?: string;
  rawType?: string;
  statusCode?: number;
  message?: string;
  detail?: { message?: string; code?: string };
}

/**
 * A failed push as a runtime error: the remote, what happened, the step, and
 * what was committed in Stripe before it (this run and earlier ones), so the
 * operator knows the state without opening the dashboard. Errors that are
 * not the SDK's pass through unchanged.
 */
export function pushFailure(
  err: unknown,
  endpoint: string,
  step: string,
  progress: InvoiceProgress[],
): unknown {
  const e = err as StripeLikeError;
  if (!e || typeof e !== "object" || typeof e.type !== "string" || !e.type.startsWith("Stripe")) return err;
  let what: string;
  if (e.type === "StripeConnectionError") {
    const cause = e.detail?.message ?? e.detail?.code ?? e.message ?? "connection failed";
    what =
      `could not complete a request to Stripe at ${endpoint} (${cause}) while ${step}; ` +
      "if the request reached Stripe, a re-run finds what it created by its limitr metadata";
  } else {
    const status = e.statusCode ? `HTTP ${e.statusCode}` : "an error";
    const kind = e.rawType ? `${e.rawType}: ` : "";
    what = `Stripe at ${endpoint} answered ${status} (${kind}${e.message ?? "no message"}) while ${step}`;
  }
  return new RemoteError(`${what}\n${committedSummary(progress)}`);
}

export function committedSummary(progress: InvoiceProgress[]): string {
  if (progress.length === 0) return "committed in Stripe before the failure: nothing";
  const parts = progress.map(
    (p) =>
      `  ${p.number} -> ${p.stripeInvoice} (${p.items} of ${p.lines} items${p.finalized ? ", finalized" : ", draft"})`,
  );
  return [
    `committed in Stripe before the failure (${progress.length} invoice(s)):`,
    ...parts,
    "re-run the same command to finish: nothing is created twice",
  ].join("\n");
}
