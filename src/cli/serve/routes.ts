import { Ajv, type ValidateFunction } from "ajv";
import type { FastifyInstance } from "fastify";
import { queryUsage } from "../commands/usage-query.js";
import { describeErrors, HttpError, toHttpError } from "./errors.js";
import { OPERATION_HANDLERS } from "./operations.js";
import {
  batchBody,
  batchResponse,
  customerUsageResponse,
  MAX_BATCH,
  meterQuery,
  meterResponse,
  OPERATION_NAMES,
  OPERATIONS,
  type OperationName,
  SHARED,
} from "./schemas.js";
import type { ServeState } from "./state.js";
import { registerWalletRoutes } from "./wallet-routes.js";

const errors = { "4xx": { $ref: "Error#" }, "5xx": { $ref: "Error#" } } as const;
const secured = [{ apiKey: [] }];

/** Every route of `limitr serve`. */
export function registerRoutes(app: FastifyInstance, state: ServeState, log: (line: string) => void): void {
  const run = (op: OperationName, body: unknown) =>
    OPERATION_HANDLERS[op](
      { engine: state.use(), holds: state.holds, metrics: state.metrics },
      body as never,
    );

  for (const op of OPERATION_NAMES) {
    const spec = OPERATIONS[op];
    app.post(
      `/v1/${op}`,
      {
        schema: {
          tags: ["decisions"],
          summary: spec.summary,
          security: secured,
          body: spec.body,
          response: { 200: spec.response, ...errors },
        },
      },
      async (req) => run(op, req.body),
    );
  }

  const validators = batchValidators();
  app.post(
    "/v1/batch",
    {
      schema: {
        tags: ["decisions"],
        summary: `Up to ${MAX_BATCH} calls in one request, run in order, each answered or refused on its own`,
        security: secured,
        body: batchBody,
        response: { 200: batchResponse, ...errors },
      },
    },
    async (req) => {
      state.use();
      const { calls } = req.body as { calls: { op: OperationName; body: unknown }[] };
      const results = calls.map((call, i) => {
        const validate = validators[call.op];
        if (!validate(call.body)) {
          const message = describeErrors(validate.errors ?? [], `calls/${i}/body`);
          return { status: 400, body: { error: { code: "invalid_request", message } } };
        }
        try {
          return { status: 200, body: run(call.op, call.body) };
        } catch (err) {
          return toHttpError(err, log);
        }
      });
      return { results };
    },
  );

  app.get(
    "/v1/customers/:id/usage",
    {
      schema: {
        tags: ["usage"],
        summary: "Live usage of every entitlement of the customer's plan",
        security: secured,
        params: { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1 } } },
        response: { 200: customerUsageResponse, ...errors },
      },
    },
    async (req) => {
      const engine = state.use();
      const customer = (req.params as { id: string }).id;
      const { policy } = engine.activePolicy();
      const ids = new Set(Object.values(policy.plans).flatMap((p) => Object.keys(p.entitlements)));
      const entitlements = [];
      for (const entitlement of [...ids].sort()) {
        const d = engine.check(customer, entitlement, 0);
        if (d.reason === "unknown_customer")
          throw new HttpError(404, "unknown_customer", `no customer ${customer} and no default plan`);
        if (d.reason === "feature_enabled" || d.reason === "feature_disabled") {
          entitlements.push({
            entitlement,
            kind: "flag",
            enabled: d.allowed,
            ...{ used: 0, held: 0, limit: null, remaining: null, resetsAt: null },
          });
        } else if (
          d.reason !== "not_entitled" &&
          d.reason !== "unknown_entitlement" &&
          d.reason !== "unknown_plan"
        ) {
          entitlements.push({ entitlement, kind: "metered", ...engine.usage(customer, entitlement) });
        }
      }
      const { activeVersion: version, activeDigest: digest } = engine.status();
      return { customer, entitlements, version, digest };
    },
  );

  registerWalletRoutes(app, state);

  app.get(
    "/v1/meters/:meter",
    {
      schema: {
        tags: ["usage"],
        summary: "Recorded usage of a meter, as `limitr usage query` computes it",
        security: secured,
        params: { type: "object", required: ["meter"], properties: { meter: { type: "string" } } },
        querystring: meterQuery,
        response: { 200: meterResponse, ...errors },
      },
    },
    async (req) => {
      const engine = state.use();
      if (state.dbPath === null)
        throw new HttpError(
          422,
          "unsupported",
          "recorded usage needs a SQLite or Postgres store (not --store memory)",
        );
      const { meter } = req.params as { meter: string };
      const q = req.query as Record<string, string | undefined>;
      const { policy } = engine.activePolicy();
      if (!Object.hasOwn(policy.meters, meter))
        throw new HttpError(404, "unknown_meter", `no meter ${meter} in the active policy`);
      await engine.flush();
      try {
        const options = {
          meter,
          customer: q.customer,
          period: q.period,
          from: q.from,
          to: q.to,
          groupBy: q.group_by,
        };
        return { meter, ...(await queryUsage(policy, state.dbPath, options)) };
      } catch (err) {
        const e = toHttpError(err, () => {});
        if (e.status !== 422) throw err;
        // The query speaks in CLI flags; over HTTP they are query parameters.
        const message = e.body.error.message.replace(/--([a-z-]+)/g, (_, f: string) => f.replace(/-/g, "_"));
        throw new HttpError(422, "invalid_query", message);
      }
    },
  );

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.get(
    "/metrics",
    {
      schema: {
        tags: ["operations"],
        summary: "Prometheus metrics (text exposition format)",
        security: secured,
      },
    },
    async (_req, reply) => {
      reply.header("content-type", state.metrics.registry.contentType);
      return state.metrics.registry.metrics();
    },
  );

  app.get("/healthz", { schema: { tags: ["operations"], summary: "The process is up" } }, async () => ({
    status: "ok",
  }));

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["operations"],
        summary: "200 once a valid policy is active; 503 before and during shutdown",
      },
    },
    async () => {
      const engine = state.use();
      const s = engine.status();
      return { status: "ready", version: s.activeVersion, digest: s.activeDigest, source: s.source };
    },
  );
}

/** One validator per operation body, from the schemas the single routes use. */
function batchValidators(): Record<OperationName, ValidateFunction> {
  const ajv = new Ajv({ coerceTypes: false, useDefaults: true, allowUnionTypes: true });
  for (const s of SHARED) ajv.addSchema(s);
  const out = {} as Record<OperationName, ValidateFunction>;
  for (const op of OPERATION_NAMES) out[op] = ajv.compile(OPERATIONS[op].body);
  return out;
}
