import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Limitr as LimitrClass, PolicyInput } from "limitr-engine";
import { Limitr, UsageError } from "limitr-engine";
import { PgEngineStore } from "limitr-engine/adapters/store/postgres/engine-store";
import { isPostgresUrl } from "limitr-engine/adapters/store/postgres/url";
import { openStore } from "limitr-engine/runtime/persistence";
import { sendEmail } from "../adapters/alerts/email.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { buildServer } from "../serve/app.js";
import { ApiKeys, isLoopback } from "../serve/auth.js";
import { scheduleBatchAlerts } from "../serve/batch-alerts.js";
import { HoldRegistry } from "../serve/holds.js";
import { ServeState } from "../serve/state.js";

/**
 * `limitr serve`: the engine behind HTTP/JSON (SPEC §13). It listens first
 * (the bound URL is the first line on stdout; /healthz answers, /readyz is 503),
 * opens the engine, and is ready. SIGTERM or SIGINT: stop accepting, finish the
 * requests in flight, close the engine (which writes the buffered events),
 * then return.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const host = String(options.host);
  const port = integer(options.port, "--port", 0, 65_535);
  const keys = ApiKeys.fromEnv(ctx.env.LIMITR_API_KEYS);
  if (!keys.enabled && !isLoopback(host))
    throw new UsageError(
      `refusing to listen on ${host} without API keys: set LIMITR_API_KEYS (comma-separated) or use --host 127.0.0.1`,
    );
  const db = String(options.db);
  const store =
    options.store === "memory" ? "memory" : isPostgresUrl(db) ? db : `sqlite:${resolve(ctx.cwd, db)}`;
  const policy = policyInput(options, ctx);
  const state = new ServeState();
  const app = await buildServer(
    {
      keys,
      bodyLimit: integer(options.bodyLimit, "--body-limit", 1, 1 << 30),
      requestTimeoutMs: integer(options.requestTimeout, "--request-timeout", 100, 3_600_000),
      keepAliveTimeoutMs: integer(options.keepAliveTimeout, "--keep-alive-timeout", 100, 3_600_000),
      log: ctx.warn,
    },
    state,
  );
  const url = await app.listen({ host, port });
  ctx.stdout.write(`${url}\n`);
  ctx.warn(`limitr serve: listening on ${url}${keys.enabled ? " (API keys required)" : ""}`);

  const stopped = new Promise<string>((done) => {
    process.once("SIGTERM", () => done("SIGTERM"));
    process.once("SIGINT", () => done("SIGINT"));
  });
  let engine: LimitrClass;
  try {
    engine = await openEngine(state, policy, store, options, ctx);
  } catch (err) {
    await app.close();
    throw err;
  }
  const prune = setInterval(() => state.holds.prune(Date.now()), 60_000).unref();
  // Billing-figure rules on a shared store are left to a scheduled `limitr alerts check --db postgres://...`.
  const batch = scheduleBatchAlerts(
    engine,
    store.startsWith("sqlite:") ? state.dbPath : null,
    integer(options.alertsEvery ?? 300_000, "--alerts-every", 0, 86_400_000),
    ctx,
  );
  const s = engine.status();
  ctx.warn(`limitr serve: ready (policy version ${s.activeVersion}, ${s.activeDigest}, store ${s.store})`);

  const signal = await stopped;
  ctx.warn(`limitr serve: ${signal}: finishing requests in flight, then writing buffered events`);
  state.closing = true;
  clearInterval(prune);
  await batch.stop();
  await app.close();
  await engine.close();
  ctx.warn("limitr serve: stopped");
  return { output: "", exitCode: 0 };
}

async function openEngine(
  state: ServeState,
  policy: PolicyInput,
  storeSpec: string,
  options: Record<string, unknown>,
  ctx: CliContext,
): Promise<LimitrClass> {
  const store = isPostgresUrl(storeSpec)
    ? await PgEngineStore.open(storeSpec, { exclusive: options.exclusive === true })
    : openStore(storeSpec);
  let engine: LimitrClass;
  try {
    // Holds a previous run left in the store can still be settled or released by id.
    state.holds = new HoldRegistry(store.loadHolds());
    state.dbPath = storeSpec.startsWith("sqlite:")
      ? storeSpec.slice("sqlite:".length)
      : isPostgresUrl(storeSpec)
        ? storeSpec
        : null;
    const durability = options.durability === "sync" ? "sync" : "batched";
    const deliverAlerts = options.deliverAlerts === false ? false : { email: sendEmail, env: ctx.env };
    const counters = options.counters === undefined ? {} : { counters: String(options.counters) };
    const prefix =
      options.countersPrefix === undefined ? {} : { countersPrefix: String(options.countersPrefix) };
    const sync =
      options.countersSyncMs === undefined
        ? {}
        : { countersSyncMs: integer(options.countersSyncMs, "--counters-sync-ms", 1, 3_600_000) };
    engine = await Limitr.open({ policy, store, durability, deliverAlerts, ...counters, ...prefix, ...sync });
  } catch (err) {
    store.close();
    throw err;
  }
  const metrics = state.metrics;
  engine.on("policy", (notice) => metrics.reloads.inc({ outcome: notice.type }));
  state.engine = engine;
  metrics.attach(engine, () => state.ready);
  return engine;
}

/** `--bundle-url` (a bundle store environment, polled) or `--policies` (a directory or a bundle .json file). */
function policyInput(options: Record<string, unknown>, ctx: CliContext): PolicyInput {
  const url = options.bundleUrl as string | undefined;
  if (url === undefined) return resolve(ctx.cwd, String(options.policies ?? "./policies"));
  const keyFiles = (options.publicKey as string[] | undefined) ?? [];
  const publicKeys = keyFiles.map((f) => readFileSync(resolve(ctx.cwd, f), "utf8"));
  if (publicKeys.length === 0)
    ctx.warn("warning: no --public-key: bundle signatures are not checked (configure keys in production)");
  const remote = /^https?:\/\//.test(url);
  return {
    url: remote ? url : resolve(ctx.cwd, url),
    publicKeys: publicKeys.length > 0 ? publicKeys : undefined,
    pollMs: options.pollMs === undefined ? undefined : integer(options.pollMs, "--poll-ms", 100, 86_400_000),
    cacheDir: options.cacheDir === undefined ? undefined : resolve(ctx.cwd, String(options.cacheDir)),
  };
}

function integer(value: unknown, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${String(value)})`);
  return n;
}
