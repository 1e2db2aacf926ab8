import { UsageError } from "limitr-engine/core/errors";
import Stripe from "stripe";

/**
 * The official SDK, configured from the environment: STRIPE_API_KEY, and
 * LIMITR_STRIPE_HOST / LIMITR_STRIPE_PORT / LIMITR_STRIPE_PROTOCOL to point it
 * at another endpoint (a local stand-in in tests), LIMITR_STRIPE_MAX_RETRIES.
 */
export function stripeFromEnv(env: NodeJS.ProcessEnv): Stripe {
  const key = env.STRIPE_API_KEY;
  if (!key) throw new UsageError("--stripe needs STRIPE_API_KEY in the environment");
  const config: Stripe.StripeConfig = {
    maxNetworkRetries: Number(env.LIMITR_STRIPE_MAX_RETRIES ?? 2),
    timeout: 30_000,
  };
  if (env.LIMITR_STRIPE_HOST) config.host = env.LIMITR_STRIPE_HOST;
  if (env.LIMITR_STRIPE_PORT) config.port = env.LIMITR_STRIPE_PORT;
  if (env.LIMITR_STRIPE_PROTOCOL === "http" || env.LIMITR_STRIPE_PROTOCOL === "https")
    config.protocol = env.LIMITR_STRIPE_PROTOCOL;
  return new Stripe(key, config);
}
