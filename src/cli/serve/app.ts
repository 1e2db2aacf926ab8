import { createServer, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import type { ApiKeys } from "./auth.js";
import { describeErrors, type ErrorBody, HttpError, toHttpError } from "./errors.js";
import { registerRoutes } from "./routes.js";
import { SHARED } from "./schemas.js";
import { ServeState } from "./state.js";

export interface ServerOptions {
  keys: ApiKeys;
  /** Largest request body in bytes (413 past it). */
  bodyLimit: number;
  /** Time a client has to send a whole request (headers included); 408 after it. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Report a server-side failure (stderr). */
  log: (line: string) => void;
}

/**
 * Routes that need the API key when keys are configured (health, readiness
 * and the document do not). Matched on the route the router chose, not the
 * raw URL: the router decodes percent-escapes (`/%761/check` is /v1/check).
 */
const PROTECTED = /^\/(v1\/|metrics$)/;

/**
 * The Fastify app of `limitr serve`: routes declared with JSON schemas, one
 * error mapper for every failure (including the HTTP parser's), API keys,
 * request timeouts and the OpenAPI document generated from the schemas.
 * It does not listen: the caller does.
 */
export async function buildServer(
  options: ServerOptions,
  state = new ServeState(),
): Promise<FastifyInstance> {
  const checkMs = Math.max(100, Math.min(1000, Math.floor(options.requestTimeoutMs / 2)));
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    return503OnClosing: false,
    forceCloseConnections: "idle",
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: true,
        allowUnionTypes: true,
      },
    },
    schemaErrorFormatter: (errors, dataVar) => new Error(describeErrors(errors, dataVar)),
    clientErrorHandler: clientError,
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: options.requestTimeoutMs,
          headersTimeout: options.requestTimeoutMs,
          keepAliveTimeout: options.keepAliveTimeoutMs,
          connectionsCheckingInterval: checkMs,
        },
        handler,
      ),
  });
  for (const schema of SHARED) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "limitr serve",
        // The API's version (the /v1 paths), not the package's: the document changes only when the API does.
        version: "1.0.0",
        description:
          "The limitr engine over HTTP/JSON: decide, meter and record usage from any language. See docs/serve.md.",
      },
      components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer" } } },
      tags: [
        { name: "decisions", description: "Check -> Call -> Record, reservations and batches" },
        { name: "usage", description: "Live and recorded usage" },
        { name: "wallets", description: "Prepaid balances, top-ups and the ledger" },
        { name: "operations", description: "Health, readiness, metrics" },
      ],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  // Callback-style hooks: no promise per request on the hot path.
  app.addHook("onRequest", (req, reply, done) => {
    const route = req.routeOptions.url;
    if (!options.keys.enabled || route === undefined || !PROTECTED.test(route)) return done();
    if (options.keys.accepts(req.headers.authorization)) return done();
    reply.header("www-authenticate", 'Bearer realm="limitr"');
    done(new HttpError(401, "unauthorized", "missing or invalid API key (Authorization: Bearer <key>)"));
  });
  app.addHook("onResponse", (req, reply, done) => {
    state.metrics.latency.observe(
      { route: req.routeOptions.url ?? "(none)", method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = toHttpError(err, options.log);
    if (status === 503) reply.header("connection", "close");
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: "not_found", message: `no route ${req.method} ${req.url.split("?")[0]}` } }),
  );
  registerRoutes(app, state, options.log);
  return app;
}

/** Errors the HTTP parser raises before a route runs (slow or malformed requests), in the same JSON shape. */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "request_timeout", "the request was not received in time"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "headers_too_large", "the request headers are too large"]
        : [400, "malformed_request", "the request is not valid HTTP"];
  const body: ErrorBody = { error: { code, message } };
  const text = JSON.stringify(body);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  socket.destroy();
}
