import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { LimitrError } from "limitr-engine";
import type { PolicyRepo } from "../adapters/git/policy-repo.js";
import {
  cookieToken,
  hostAllowed,
  originAllowed,
  queryToken,
  sameToken,
  sessionCookie,
  TOKEN_HEADER,
} from "./access.js";
import { entitlementFields } from "./form-schema.js";
import { diffAgainst, gitStatus, saveChange } from "./git-ops.js";
import { overview } from "./overview.js";
import { simulateChange } from "./simulation.js";
import { staticFile } from "./static-files.js";
import type { EntitlementChange, Workspace } from "./workspace.js";

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
  properties: { branch: { type: "string", maxLength: 200 }, message: { type: "string", maxLength: 5000 } },
} as const;

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

  app.post("/api/save", { schema: { body: SAVE_BODY } }, async (req, reply) => {
    if (!repo) return deny(reply, 409, "the policy directory is not in a git repository");
    if (!workspace.validate().policy) return deny(reply, 422, "the policy has errors; it cannot be saved");
    const { branch, message } = req.body as { branch: string; message: string };
    return saveChange(repo, branch, message);
  });

  app.get("/*", async (req, reply) => {
    if (req.url.startsWith("/api/")) return deny(reply, 404, "no such endpoint");
    const file = staticFile(options.webRoot, req.url);
    if (!file) return deny(reply, 503, "the studio's web app is not built (run `npm run build`)");
    return reply.type(file.type).send(file.body);
  });
  return app;
}
