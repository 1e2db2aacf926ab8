import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BIN, REPO } from "./run-cli.js";

/**
 * `bill --stripe` with the real `stripe` SDK pointed at a local stand-in of
 * the Stripe API: it records requests, honours Idempotency-Key (a repeated
 * key replays the first response) and can fail a chosen request.
 */
interface Recorded {
  method: string;
  path: string;
  key: string | undefined;
  body: Record<string, string>;
  replayed: boolean;
}

class StripeStandIn {
  server: Server;
  requests: Recorded[] = [];
  invoices = new Map<
    string,
    { id: string; customer: string; status: string; items: { amount: number; description: string }[] }
  >();
  private responses = new Map<string, string>();
  private seq = 0;
  /** 1-based number of the request to fail, and how. */
  failAt: { n: number; mode: "500" | "drop-after-commit" } | null = null;

  constructor() {
    this.server = createServer(async (req, res) => {
      const body = Object.fromEntries(new URLSearchParams(await read(req)));
      const key = req.headers["idempotency-key"] as string | undefined;
      const n = this.requests.length + 1;
      const replay = key !== undefined ? this.responses.get(key) : undefined;
      this.requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        key,
        body,
        replayed: replay !== undefined,
      });
      res.setHeader("content-type", "application/json");
      if (this.failAt?.n === n && this.failAt.mode === "500") {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { type: "api_error", message: "stand-in failure" } }));
        return;
      }
      const payload = replay ?? this.handle(req.method ?? "", req.url ?? "", body);
      if (key !== undefined) this.responses.set(key, payload);
      if (this.failAt?.n === n && this.failAt.mode === "drop-after-commit") {
        req.socket.destroy();
        return;
      }
      res.end(payload);
    });
  }

  private handle(method: string, path: string, body: Record<string, string>): string {
    if (method === "POST" && path === "/v1/invoices") {
      const id = `in_${++this.seq}`;
      this.invoices.set(id, { id, customer: body.customer ?? "", status: "draft", items: [] });
      return JSON.stringify({ id, object: "invoice", customer: body.customer, status: "draft" });
    }
    if (method === "POST" && path === "/v1/invoiceitems") {
      const inv = this.invoices.get(body.invoice ?? "");
      inv?.items.push({ amount: Number(body.amount), description: body.description ?? "" });
      return JSON.stringify({
        id: `ii_${++this.seq}`,
        object: "invoiceitem",
        invoice: body.invoice,
        amount: Number(body.amount),
      });
    }
    const fin = /^\/v1\/invoices\/([^/]+)\/finalize$/.exec(path);
    if (method === "POST" && fin) {
      const inv = this.invoices.get(fin[1] ?? "");
      if (inv) inv.status = "open";
      return JSON.stringify({ id: fin[1], object: "invoice", status: "open" });
    }
    return JSON.stringify({ error: { message: `unexpected ${method} ${path}` } });
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => {
      data += c;
    });
    req.on("end", () => resolve(data));
  });
}

let dir: string;
let stand: StripeStandIn;
let port: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-stripe-"));
  cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
  stand = new StripeStandIn();
  port = await stand.start();
  const events = [
    {
      id: "g1",
      type: "llm.completion",
      customer: "globex",
      timestamp: "2026-10-05T10:00:00Z",
      properties: { model: "gpt-4o", input_tokens: 6_000_000, output_tokens: 600_000 },
    },
    {
      id: "g2",
      type: "gpu.job",
      customer: "globex",
      timestamp: "2026-10-07T10:00:00Z",
      properties: { gpu: "a100", seconds: 4000 },
    },
  ];
  writeFileSync(join(dir, "events.ndjson"), `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
  await cli("usage", "import", "events.ndjson");
});

afterEach(() => {
  stand.server.close();
});

function cli(...args: string[]) {
  return execa(process.execPath, [BIN, "--db", "usage.db", ...args], {
    cwd: dir,
    reject: false,
    env: {
      NO_COLOR: "1",
      STRIPE_API_KEY: "sk_test_standin",
      LIMITR_STRIPE_HOST: "127.0.0.1",
      LIMITR_STRIPE_PORT: String(port),
      LIMITR_STRIPE_PROTOCOL: "http",
      LIMITR_STRIPE_MAX_RETRIES: "0",
    },
  });
}

const creations = () => stand.requests.filter((r) => !r.replayed);
const itemsOf = (customer: string) =>
  [...stand.invoices.values()]
    .filter((i) => i.customer === customer)
    .map((i) => i.items.map((it) => it.amount));

describe("bill --stripe", () => {
  it("creates one draft invoice per customer with items in minor units; a re-run creates nothing", async () => {
    const r = await cli("bill", "--period", "2026-10", "--stripe", "--format", "json");
    expect(r.exitCode).toBe(0);
    // globex: fee 49.00, 1M input tokens past 5M x 0.000003 = 3.00, 100k output past 500k x 0.000012 = 1.20,
    // 400 GPU seconds past 3,600 x 0.0012 = 0.48, goodwill credit -25.00.
    expect(itemsOf("cus_globex")).toEqual([[4900, 300, 120, 48, -2500]]);
    expect(itemsOf("cus_initech")).toEqual([[4900]]);
    expect([...stand.invoices.values()].map((i) => i.customer).sort()).toEqual([
      "cus_acmeholdings",
      "cus_acmeresearch",
      "cus_globex",
      "cus_initech",
    ]);
    const invoiceCreate = stand.requests.find(
      (q) => q.path === "/v1/invoices" && q.body.customer === "cus_globex",
    );
    expect(invoiceCreate?.body).toMatchObject({
      auto_advance: "false",
      currency: "usd",
      pending_invoice_items_behavior: "exclude",
    });
    expect(invoiceCreate?.key).toMatch(/^limitr:acme-ai-2026-10-0003:[0-9a-f]{16}:invoice$/);

    const before = stand.requests.length;
    const again = await cli("bill", "--period", "2026-10", "--stripe");
    expect(again.exitCode).toBe(0);
    expect(stand.requests.length).toBe(before);
  });

  it("a failed request (500) stops the push; the re-run completes it without double-billing", async () => {
    stand.failAt = { n: 3, mode: "500" };
    const failed = await cli("bill", "--period", "2026-10", "--stripe");
    expect(failed.exitCode).toBe(1);
    stand.failAt = null;
    const done = await cli("bill", "--period", "2026-10", "--stripe");
    expect(done.exitCode).toBe(0);
    expect(stand.invoices.size).toBe(4);
    expect(itemsOf("cus_globex")).toEqual([[4900, 300, 120, 48, -2500]]);
  });

  it("a response lost after Stripe committed is replayed by its idempotency key, never created twice", async () => {
    // Request 2 is the first invoice item of the first invoice: committed by the server, connection dropped.
    // The HTTP layer may resend it at once (same key) or the run fails and a re-run resends it: either way
    // the stand-in replays the stored response.
    stand.failAt = { n: 2, mode: "drop-after-commit" };
    const first = await cli("bill", "--period", "2026-10", "--stripe");
    stand.failAt = null;
    if (first.exitCode !== 0) expect((await cli("bill", "--period", "2026-10", "--stripe")).exitCode).toBe(0);
    const replays = stand.requests.filter((r) => r.replayed);
    expect(replays).toHaveLength(1);
    expect(replays[0]?.path).toBe("/v1/invoiceitems");
    // Every (invoice, line) was created once.
    const itemKeys = creations()
      .filter((r) => r.path === "/v1/invoiceitems")
      .map((r) => r.key);
    expect(new Set(itemKeys).size).toBe(itemKeys.length);
    expect(itemsOf("cus_acmeholdings")).toEqual([[200000, 25000, 275000, -25000, -50000]]);
  });

  it("--finalize finalizes each draft once; a changed invoice is not pushed twice (exit 5)", async () => {
    expect((await cli("bill", "--period", "2026-10", "--stripe", "--finalize")).exitCode).toBe(0);
    expect([...stand.invoices.values()].every((i) => i.status === "open")).toBe(true);
    writeFileSync(
      join(dir, "late.ndjson"),
      `${JSON.stringify({ id: "late", type: "gpu.job", customer: "globex", timestamp: "2026-10-30T10:00:00Z", properties: { gpu: "h100", seconds: 1000 } })}\n`,
    );
    await cli("usage", "import", "late.ndjson");
    const r = await cli("bill", "--period", "2026-10", "--stripe");
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain("acme-ai-2026-10-0003 was pushed as");
    expect(itemsOf("cus_globex")).toHaveLength(1);
  });

  it("--stripe without STRIPE_API_KEY is a usage error", async () => {
    const r = await execa(
      process.execPath,
      [BIN, "--db", "usage.db", "bill", "--period", "2026-10", "--stripe"],
      {
        cwd: dir,
        reject: false,
        env: { NO_COLOR: "1", STRIPE_API_KEY: "" },
      },
    );
    expect(r.exitCode).toBe(64);
  });
});
