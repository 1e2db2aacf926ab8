import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { InputError, LimitrError } from "limitr-engine";
import { endOfDate, parseInstant } from "limitr-engine/core/periods";
import type { PolicyRepo } from "../adapters/git/policy-repo.js";
import type { CliContext } from "../context.js";
import {
  cookieToken,
  hostAllowed,
  originAllowed,
  queryToken,
  sameToken,
  sessionCookie,
  TOKEN_HEADER,
} from "./access.js";
import { customerUsage, invoicePreview } from "./customer-usage.js";
import { entitlementFields, formSchemas } from "./form-schema.js";
import { diffAgainst, gitStatus, saveChange } from "./git-ops.js";
import { originUrl, policyLog, pullRequestUrl, pushBranch } from "./git-remote.js";
import { overview } from "./overview.js";
import { bundleHistory, rollback } from "./releases.js";
import { simulateChange } from "./simulation.js";
import { staticFile } from "./static-files.js";
import type { EntitlementChange, PlanCopy, ValueChange, Workspace } from "./workspace.js";

export interface StudioOptions {
  token: string;
  workspace: Workspace;
  /** null when the policy directory is not in a git repository (browse and edit only). */
  repo: PolicyRepo | null;
  /** `--policies` as given and the cwd, for reads at git refs. */
  policies: string;
  /** The usage store the simulation reads (absolute). */
  db: string;
  cwd: string;
  webRoot: string;
  log: (line: string) => void;
  /** The CLI context the history page runs `limitr history` and `limitr rollback` with. */
  ctx: CliContext;
  /** The clock (tests pin it). */
  now?: () => number;
}

const CHANGE_BODY = {
  type: "object",
  required: ["plan", "entitlement", "values"],
  additionalProperties: false,
  properties: {
    plan: { type: "string" },
    entitlement: { type: "string" },
    values: { type: "object", additionalProperties: { type: "string" } },
  },
} as const;

const SAVE_BODY = {
  type: "object",
  required: ["branch", "message"],
  additionalProperties: false,
  properties: {
    branch: { type: "string", maxLength: 200 },
    message: { type: "string", maxLength: 5000 },
    push: { type: "boolean" },
  },
} as const;

const VALUE_BODY = {
  type: "object",
  required: ["path"],
  additionalProperties: false,
  properties: {
    path: { type: "array", minItems: 3, maxItems: 12, items: { type: ["string", "integer"] } },
    value: {},
  },
} as const;

const COPY_BODY = {
  type: "object",
  required: ["from", "id", "name"],
  additionalProperties: false,
  properties: {
    from: { type: "string", maxLength: 200 },
    id: { type: "string", maxLength: 200 },
    name: { type: "string", maxLength: 200 },
  },
} as const;

const ROLLBACK_BODY = {
  type: "object",
  required: ["env", "to"],
  additionalProperties: false,
  properties: {
    env: { type: "string", maxLength: 200 },
    to: { type: "integer", minimum: 1 },
    reason: { type: "string", maxLength: 1000 },
  },
} as const;

/** `at=2026-10-31` (a day, read in the policy's timezone: its end) or an ISO time; default now. */
function instantOf(text: unknown, zone: string, now: number): number {
  if (typeof text !== "string" || text === "") return now;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return endOfDate(text, zone) - 1;
  const ms = parseInstant(text, zone);
  if (ms === null || Number.isNaN(ms)) throw new InputError(`bad date ${text} (expected 2026-10-31)`);
  return ms;
}

function deny(reply: FastifyReply, status: number, message: string) {
  return reply.code(status).type("application/json").send({ error: { message } });
}

/** The studio's HTTP app: the built web page and a JSON API, all behind the token. It does not listen. */
export function buildStudio(options: StudioOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: 1 << 20 });
  const { workspace, repo } = options;
  let port = 0;
  app.addHook("onListen", async () => {
    const address = app.server.address();
    port = typeof address === "object" && address ? address.port : 0;
  });

  app.addHook("onRequest", async (req, reply) => {
    if (!hostAllowed(req.headers.host, port)) return deny(reply, 403, "unknown host");
    const header = req.headers[TOKEN_HEADER];
    const fromQuery = queryToken(req.url);
    const presented =
      (typeof header === "string" ? header : undefined) ?? cookieToken(req.headers.cookie) ?? fromQuery;
    if (!sameToken(presented, options.token))
      return deny(
        reply,
        401,
        "open the studio with the URL `limitr studio` printed (it carries the access token)",
      );
    if (req.method !== "GET" && req.method !== "HEAD" && !originAllowed(req.headers.origin, req.headers.host))
      return deny(reply, 403, "requests that change something must come from the studio's own page");
    // First visit: keep the token in a cookie and take it out of the address bar.
    if (fromQuery !== undefined && req.method === "GET" && !req.url.startsWith("/api/"))
      return reply.header("set-cookie", sessionCookie(options.token)).redirect("/", 303);
  });

  app.addHook("onSend", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("content-security-policy", "default-src 'self'; style-src 'self' 'unsafe-inline'");
  });

  app.setErrorHandler((raw, _req, reply) => {
    const err = raw instanceof Error ? raw : new Error(String(raw));
    if (err instanceof LimitrError) return deny(reply, 422, err.message);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return deny(reply, status, err.message);
    options.log(`limitr studio: ${err.stack ?? err.message}`);
    return deny(reply, 500, "the studio failed; see the terminal it runs in");
  });

  app.get("/api/policy", async () => {
    const result = workspace.validate();
    return {
      overview: result.policy ? overview(result.policy, workspace.order()) : null,
      diagnostics: result.diagnostics,
      fields: entitlementFields(),
      forms: formSchemas(),
      git: repo ? await gitStatus(repo) : null,
    };
  });

  app.get("/api/entitlement", async (req) => {
    const q = req.query as { plan?: string; entitlement?: string };
    return { values: workspace.values(String(q.plan ?? ""), String(q.entitlement ?? "")) };
  });

  app.post("/api/check", { schema: { body: CHANGE_BODY } }, async (req) => {
    const { text: _text, policy, ...result } = workspace.check(req.body as EntitlementChange);
    return { ...result, overview: policy ? overview(policy, workspace.order()) : null };
  });

  app.post("/api/apply", { schema: { body: CHANGE_BODY } }, async (req, reply) => {
    const { text: _text, policy, ...result } = workspace.apply(req.body as EntitlementChange);
    if (!result.valid) reply.code(422);
    return { ...result, overview: policy ? overview(policy, workspace.order()) : null };
  });

  app.get("/api/diff", async (_req, reply) => {
    if (!repo) return deny(reply, 409, "the policy directory is not in a git repository");
    const result = workspace.validate();
    if (!result.policy) return deny(reply, 422, "the policy has errors; fix them to see the difference");
    const status = await gitStatus(repo);
    return diffAgainst(repo, status.defaultBranch, options.cwd, options.policies, result.policy);
  });

  app.get("/api/simulate", async (_req, reply) => {
    if (!repo) return deny(reply, 409, "the policy directory is not in a git repository");
    const result = workspace.validate();
    if (!result.policy) return deny(reply, 422, "the policy has errors; fix them to simulate the change");
    const status = await gitStatus(repo);
    const where = { cwd: options.cwd, policies: options.policies, db: options.db };
    return simulateChange(repo, status.defaultBranch, result.policy, where);
  });

  app.get("/api/value", async (req) => {
    const q = req.query as { path?: string };
    let path: unknown;
    try {
      path = JSON.parse(String(q.path ?? "[]"));
    } catch {
      path = null;
    }
    if (!Array.isArray(path) || !path.every((k) => typeof k === "string" || Number.isInteger(k)))
      throw new InputError('path must be a JSON list of keys, like ["plans","pro","wallet"]');
    return { value: workspace.read(path) };
  });

  const checked = (result: ReturnType<Workspace["check"]>) => {
    const { text: _text, policy, ...rest } = result;
    return { ...rest, overview: policy ? overview(policy, workspace.order()) : null };
  };

  app.post("/api/value/check", { schema: { body: VALUE_BODY } }, async (req) =>
    checked(workspace.checkValue(req.body as ValueChange)),
  );

  app.post("/api/value/apply", { schema: { body: VALUE_BODY } }, async (req, reply) => {
    const result = workspace.applyValue(req.body as ValueChange);
    if (!result.valid) reply.code(422);
    return checked(result);
  });

  app.post("/api/plans/copy/check", { schema: { body: COPY_BODY } }, async (req) =>
    checked(workspace.checkCopy(req.body as PlanCopy)),
  );

  app.post("/api/plans/copy", { schema: { body: COPY_BODY } }, async (req, reply) => {
    const result = workspace.applyCopy(req.body as PlanCopy);
    if (!result.valid) reply.code(422);
    return checked(result);
  });

  const now = options.now ?? Date.now;
  const validPolicy = () => {
    const policy = workspace.validate().policy;
    if (!policy) throw new InputError("the policy has errors; fix them to read usage under it");
    return policy;
  };

  app.get("/api/customers", async (req) => {
    const policy = validPolicy();
    const at = instantOf((req.query as { at?: string }).at, policy.timezone, now());
    return customerUsage(policy, options.db, at);
  });

  app.get("/api/customers/:id/invoice", async (req) => {
    const policy = validPolicy();
    const at = instantOf((req.query as { at?: string }).at, policy.timezone, now());
    return invoicePreview(policy, options.db, (req.params as { id: string }).id, at);
  });

  app.post("/api/save", { schema: { body: SAVE_BODY } }, async (req, reply) => {
    if (!repo) return deny(reply, 409, "the policy directory is not in a git repository");
    if (!workspace.validate().policy) return deny(reply, 422, "the policy has errors; it cannot be saved");
    const { branch, message, push } = req.body as { branch: string; message: string; push?: boolean };
    const saved = await saveChange(repo, branch, message);
    const status = await gitStatus(repo);
    const remote = await originUrl(repo);
    if (!push)
      return {
        ...saved,
        pushed: false,
        remote,
        pullRequestUrl: remote ? pullRequestUrl(remote, saved.branch, status.defaultBranch) : null,
      };
    const pushed = await pushBranch(repo, saved.branch, status.defaultBranch);
    return { ...saved, pushed: true, remote: pushed.remote, pullRequestUrl: pushed.pullRequestUrl };
  });

  app.get("/api/history", async (req) => {
    const env = (req.query as { env?: string }).env || undefined;
    const commits = repo ? await policyLog(repo) : [];
    const policy = workspace.validate().policy;
    const environments = policy?.bundles?.environments ?? [];
    let bundles: Record<string, unknown> | null = null;
    let bundlesError: string | null = null;
    try {
      bundles = await bundleHistory({ policies: options.policies, ctx: options.ctx }, env);
    } catch (err) {
      if (!(err instanceof LimitrError)) throw err;
      bundlesError = err.message;
    }
    return { commits, environments, bundles, bundlesError };
  });

  app.post("/api/rollback", { schema: { body: ROLLBACK_BODY } }, async (req) => {
    const { env, to, reason } = req.body as { env: string; to: number; reason?: string };
    return rollback({ policies: options.policies, ctx: options.ctx }, env, to, reason ?? "");
  });

  app.get("/*", async (req, reply) => {
    if (req.url.startsWith("/api/")) return deny(reply, 404, "no such endpoint");
    const file = staticFile(options.webRoot, req.url);
    if (!file) return deny(reply, 503, "the studio's web app is not built (run `npm run build`)");
    return reply.type(file.type).send(file.body);
  });
  return app;
}
