import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for the part of the Stripe API `limitr bill --stripe`
 * uses, on 127.0.0.1, for the real `stripe` SDK (point it here with
 * LIMITR_STRIPE_HOST=127.0.0.1, LIMITR_STRIPE_PORT=<port>,
 * LIMITR_STRIPE_PROTOCOL=http). It keeps state, unlike `stripe-mock`:
 *
 * - `POST /v1/invoices`, `GET /v1/invoices?customer=` (newest first,
 *   `limit` / `starting_after` pagination), `GET /v1/invoices/:id`,
 *   `POST /v1/invoices/:id/finalize`;
 * - `POST /v1/invoiceitems` (only onto a draft invoice),
 *   `GET /v1/invoiceitems?invoice=|customer=`;
 * - `Idempotency-Key` on POST: a repeated key replays the first response; the
 *   same key with other parameters is a 400 `idempotency_error`, as Stripe
 *   does. `forgetIdempotencyKeys()` simulates the 24-hour window passing;
 * - failures on demand (`fail`): answer 500, or commit the request (or replay
 *   it) and drop the connection before answering (a lost response).
 *
 * Every request is recorded in `requests`. See docs/billing.md.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  key: string | undefined;
  body: Record<string, unknown>;
  /** Answered from the idempotency cache (nothing created). */
  replayed: boolean;
}

export interface StandInInvoice {
  id: string;
  object: "invoice";
  customer: string;
  currency: string;
  status: "draft" | "open";
  description: string | null;
  metadata: Record<string, string>;
  created: number;
}

export interface StandInItem {
  id: string;
  object: "invoiceitem";
  customer: string;
  invoice: string | null;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  created: number;
}

export interface FailureRule {
  method?: string;
  /** Path without the query string (`/v1/invoiceitems`). */
  path?: string | RegExp;
  /** Skip this many matching requests first. */
  after?: number;
  /** Fail this many matching requests in a row (default 1). The SDK resends a request once at once when its connection closes. */
  times?: number;
  /** `500`: answer an api_error, commit nothing. `drop-after-commit`: commit, then close the socket unanswered. */
  mode: "500" | "drop-after-commit";
}

export class StripeStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly invoices = new Map<string, StandInInvoice>();
  readonly items = new Map<string, StandInItem>();
  private readonly keys = new Map<string, { params: string; status: number; payload: string }>();
  private rules: (FailureRule & { seen: number; times: number })[] = [];
  private seq = 0;
  private clock = 1_790_000_000;
  private server: Server | null = null;
  port = 0;

  /** Fail the first request(s) matching `rule`. */
  fail(rule: FailureRule): void {
    this.rules.push({ ...rule, seen: 0, times: rule.times ?? 1 });
  }

  /** Stripe keeps idempotency keys for 24 hours: after that a repeated key is a new request. */
  forgetIdempotencyKeys(): void {
    this.keys.clear();
  }

  /** The items of each invoice of `customer`, as amounts in minor units, in creation order. */
  itemAmounts(customer: string): number[][] {
    return [...this.invoices.values()]
      .filter((i) => i.customer === customer)
      .map((inv) => [...this.items.values()].filter((it) => it.invoice === inv.id).map((it) => it.amount));
  }

  /** The environment that points the SDK (and `limitr bill --stripe`) here. */
  env(): Record<string, string> {
    return {
      STRIPE_API_KEY: "sk_test_standin",
      LIMITR_STRIPE_HOST: "127.0.0.1",
      LIMITR_STRIPE_PORT: String(this.port),
      LIMITR_STRIPE_PROTOCOL: "http",
      LIMITR_STRIPE_MAX_RETRIES: "0",
    };
  }

  async start(): Promise<number> {
    this.server = createServer((req, res) => {
      readBody(req).then((raw) => this.serve(req, res, raw));
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private serve(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const method = req.method ?? "GET";
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const body = parseForm(raw);
    const key = method === "POST" ? (req.headers["idempotency-key"] as string | undefined) : undefined;
    const cached = key === undefined ? undefined : this.keys.get(key);
    this.requests.push({ method, path, query, key, body, replayed: cached !== undefined });
    res.setHeader("content-type", "application/json");
    if (!String(req.headers.authorization ?? "").startsWith("Bearer ")) {
      send(res, 401, error("invalid_request_error", "You did not provide an API key."));
      return;
    }
    const rule = this.rules.find(
      (r) =>
        (r.method === undefined || r.method === method) &&
        (r.path === undefined || (typeof r.path === "string" ? r.path === path : r.path.test(path))) &&
        r.seen++ >= (r.after ?? 0),
    );
    if (rule && --rule.times <= 0) this.rules = this.rules.filter((r) => r !== rule);
    if (rule?.mode === "500") {
      send(res, 500, error("api_error", "stand-in failure"));
      return;
    }
    let answer = cached;
    if (cached && cached.params !== raw) {
      answer = {
        params: raw,
        status: 400,
        payload: error(
          "idempotency_error",
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        ),
      };
    }
    if (!answer) {
      const [status, payload] = this.handle(method, path, query, body);
      answer = { params: raw, status, payload };
      // Stripe saves the result of a POST under its key, errors included (except 500s).
      if (key !== undefined) this.keys.set(key, answer);
    }
    if (rule?.mode === "drop-after-commit") {
      req.socket.destroy();
      return;
    }
    const { status, payload } = answer;
    send(res, status, payload);
  }

  private handle(
    method: string,
    path: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
  ): [number, string] {
    const str = (v: unknown) => (typeof v === "string" ? v : null);
    const meta = (v: unknown) => (v && typeof v === "object" ? (v as Record<string, string>) : {});
    if (method === "POST" && path === "/v1/invoices") {
      const customer = str(body.customer);
      if (!customer) return [400, error("invalid_request_error", "Missing required param: customer.")];
      const inv: StandInInvoice = {
        id: `in_${++this.seq}`,
        object: "invoice",
        customer,
        currency: str(body.currency) ?? "usd",
        status: "draft",
        description: str(body.description),
        metadata: meta(body.metadata),
        created: ++this.clock,
      };
      this.invoices.set(inv.id, inv);
      return [200, JSON.stringify(inv)];
    }
    if (method === "GET" && path === "/v1/invoices") {
      const all = [...this.invoices.values()].filter((i) => !query.customer || i.customer === query.customer);
      return [200, page(all, query, path)];
    }
    if (method === "POST" && path === "/v1/invoiceitems") {
      const invoice = str(body.invoice);
      const target = invoice ? this.invoices.get(invoice) : undefined;
      if (invoice && !target) return [404, error("invalid_request_error", `No such invoice: '${invoice}'`)];
      if (target && target.status !== "draft")
        return [400, error("invalid_request_error", "You can only add invoice items to draft invoices.")];
      const item: StandInItem = {
        id: `ii_${++this.seq}`,
        object: "invoiceitem",
        customer: str(body.customer) ?? "",
        invoice,
        amount: Number(body.amount),
        currency: str(body.currency) ?? "usd",
        description: str(body.description),
        metadata: meta(body.metadata),
        created: ++this.clock,
      };
      this.items.set(item.id, item);
      return [200, JSON.stringify(item)];
    }
    if (method === "GET" && path === "/v1/invoiceitems") {
      const all = [...this.items.values()].filter(
        (i) =>
          (!query.invoice || i.invoice === query.invoice) &&
          (!query.customer || i.customer === query.customer),
      );
      return [200, page(all, query, path)];
    }
    const one = /^\/v1\/invoices\/([^/]+)(\/finalize)?$/.exec(path);
    const inv = one ? this.invoices.get(one[1] ?? "") : undefined;
    if (one && !inv) return [404, error("invalid_request_error", `No such invoice: '${one[1]}'`)];
    if (inv && method === "GET" && !one?.[2]) return [200, JSON.stringify(inv)];
    if (inv && method === "POST" && one?.[2]) {
      if (inv.status !== "draft")
        return [400, error("invalid_request_error", "This invoice is already finalized.")];
      inv.status = "open";
      return [200, JSON.stringify(inv)];
    }
    return [404, error("invalid_request_error", `Unrecognized request URL (${method}: ${path}).`)];
  }
}

/** A Stripe list page: newest first, `limit` (default 10, at most 100), `starting_after` cursor. */
function page(all: { id: string; created: number }[], query: Record<string, string>, url: string): string {
  const sorted = [...all].sort((a, b) => b.created - a.created);
  const limit = Math.min(100, Math.max(1, Number(query.limit ?? 10)));
  const from = query.starting_after ? sorted.findIndex((o) => o.id === query.starting_after) + 1 : 0;
  const data = sorted.slice(from, from + limit);
  return JSON.stringify({ object: "list", data, has_more: from + limit < sorted.length, url });
}

function error(type: string, message: string): string {
  return JSON.stringify({ error: { type, message } });
}

function send(res: ServerResponse, status: number, payload: string): void {
  res.statusCode = status;
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => {
      data += c;
    });
    req.on("end", () => resolve(data));
  });
}

/** Stripe's form encoding: `metadata[key]=v` becomes `{ metadata: { key: v } }` (one level, as limitr sends). */
function parseForm(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const m = /^([^[]+)\[([^\]]*)\]$/.exec(k);
    if (m) {
      const outer = (out[m[1] as string] ??= {}) as Record<string, string>;
      outer[m[2] as string] = v;
    } else out[k] = v;
  }
  return out;
}
