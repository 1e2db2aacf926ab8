import { fileURLToPath } from "node:url";
import { Limitr } from "limitr-engine";
import { buildApp } from "./src/app.js";

/**
 * The example service: opens the engine, serves the routes, and on SIGTERM or
 * SIGINT stops taking requests, lets those in flight finish, then flushes the
 * engine's buffered events to the store and exits 0.
 */
function config(env) {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`PORT must be an integer from 0 to 65535 (got "${env.PORT}")`);
  }
  return {
    port,
    host: env.HOST ?? "127.0.0.1",
    policy: env.LIMITR_POLICIES ?? fileURLToPath(new URL("../../policies", import.meta.url)),
    store: env.LIMITR_STORE ?? "sqlite:.limitr/example.db",
  };
}

async function main() {
  const { port, host, policy, store } = config(process.env);
  const limitr = await Limitr.open({ policy, store });
  const app = buildApp(limitr);
  app.addHook("onClose", () => limitr.close());

  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    app.close().catch((err) => {
      console.error(`limitr-example-service: shutting down: ${err.message}`);
      process.exitCode = 1;
    });
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  try {
    console.log(await app.listen({ port, host }));
  } catch (err) {
    await limitr.close();
    throw err;
  }
}

main().catch((err) => {
  console.error(`limitr-example-service: ${err.message}`);
  process.exitCode = 1;
});
