import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StripeStandIn } from "../helpers/stripe-stand-in.js";
import { limitrInProcess, REPO } from "./run-cli.js";

/**
 * `bill --stripe` with the real `stripe` SDK pointed at the local stand-in of
 * the Stripe API (test/helpers/stripe-stand-in.ts): it keeps state, honours
 * Idempotency-Key and can fail a chosen request.
 */
let dir: string;
let stand: StripeStandIn;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-stripe-"));
  cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
  stand = new StripeStandIn();
  await stand.start();
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

afterEach(async () => {
  await stand.stop();
});

function cli(...args: string[]) {
  return cliWith(stand.env(), ...args);
}

function cliWith(env: Record<string, string>, ...args: string[]) {
  return limitrInProcess(["--db", "usage.db", ...args], dir, env);
}

const posts = () => stand.requests.filter((r) => r.method === "POST");
const creations = () => posts().filter((r) => !r.replayed);
const ALL_ITEMS = {
  cus_globex: [[4900, 300, 120, 48, -2500]],
  cus_acmeholdings: [[200000, 25000, 275000, -25000, -50000]],
};
const expectEveryInvoiceOnce = () => {
  expect([...stand.invoices.values()].map((i) => i.customer).sort()).toEqual([
    "cus_acmeholdings",
    "cus_acmeresearch",
    "cus_globex",
    "cus_initech",
  ]);
  for (const [customer, items] of Object.entries(ALL_ITEMS))
    expect(stand.itemAmounts(customer)).toEqual(items);
};

describe("bill --stripe", () => {
  it("creates one draft invoice per customer with items in minor units; a re-run sends nothing", async () => {
    const r = await cli("bill", "--period", "2026-10", "--stripe", "--format", "json");
    expect(r.exitCode).toBe(0);
    // globex: fee 49.00, 1M input tokens past 5M x 0.000003 = 3.00, 100k output past 500k x 0.000012 = 1.20,
    // 400 GPU seconds past 3,600 x 0.0012 = 0.48, goodwill credit -25.00.
    expectEveryInvoiceOnce();
    expect(stand.itemAmounts("cus_initech")).toEqual([[4900]]);
    const invoiceCreate = posts().find((q) => q.path === "/v1/invoices" && q.body.customer === "cus_globex");
    expect(invoiceCreate?.body).toMatchObject({
      auto_advance: "false",
      currency: "usd",
      pending_invoice_items_behavior: "exclude",
      metadata: { limitr_invoice: "acme-ai-2026-10-0003" },
    });
    expect(invoiceCreate?.key).toMatch(/^limitr:acme-ai-2026-10-0003:[0-9a-f]{16}:invoice$/);

    const before = stand.requests.length;
    const again = await cli("bill", "--period", "2026-10", "--stripe");
    expect(again.exitCode).toBe(0);
    expect(stand.requests.length).toBe(before);
  });

  it("a 500 from Stripe is a runtime error naming the remote and what was committed; the invoices are still printed; the re-run completes", async () => {
    stand.fail({ method: "POST", path: "/v1/invoiceitems", after: 2, mode: "500" });
    const failed = await cli("bill", "--period", "2026-10", "--stripe");
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).not.toContain("internal error");
    expect(failed.stderr).toContain(
      `error: Stripe at http://127.0.0.1:${stand.port} answered HTTP 500 (api_error: stand-in failure) while creating item 3 of 5 of acme-ai-2026-10-0001`,
    );
    expect(failed.stderr).toContain("committed in Stripe before the failure (1 invoice(s)):");
    expect(failed.stderr).toMatch(/acme-ai-2026-10-0001 -> in_\d+ \(2 of 5 items, draft\)/);
    // The computed invoices are printed on stdout all the same.
    expect(failed.stdout).toContain("acme-ai-2026-10-0001");
    expect(failed.stdout).toContain("acme-ai-2026-10-0003");

    const done = await cli("bill", "--period", "2026-10", "--stripe");
    expect(done.exitCode).toBe(0);
    expectEveryInvoiceOnce();
  });

  it("Stripe unreachable (a port nobody listens on) is a runtime error naming the remote; nothing committed; invoices printed", async () => {
    const port = await unusedPort();
    const r = await cliWith(
      { ...stand.env(), LIMITR_STRIPE_PORT: String(port) },
      "bill",
      "--period",
      "2026-10",
      "--stripe",
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).not.toContain("internal error");
    expect(r.stderr).toContain(`could not complete a request to Stripe at http://127.0.0.1:${port}`);
    expect(r.stderr).toContain("ECONNREFUSED");
    expect(r.stderr).toContain("committed in Stripe before the failure: nothing");
    expect(r.stdout).toContain("acme-ai-2026-10-0001");
  });

  it("a response lost after Stripe committed is replayed by its idempotency key, never created twice", async () => {
    // The SDK resends a request whose connection closed once, at once, with the same key: Stripe replays it.
    stand.fail({ method: "POST", path: "/v1/invoiceitems", mode: "drop-after-commit" });
    expect((await cli("bill", "--period", "2026-10", "--stripe")).exitCode).toBe(0);
    const replays = stand.requests.filter((r) => r.replayed);
    expect(replays.map((r) => r.path)).toEqual(["/v1/invoiceitems"]);
    expectEveryInvoiceOnce();
  });

  for (const [what, rule] of [
    ["a draft invoice", { method: "POST", path: "/v1/invoices" }],
    ["an invoice item", { method: "POST", path: "/v1/invoiceitems", after: 3 }],
  ] as const) {
    it(`${what} created by Stripe whose response was lost is found by its limitr metadata after the idempotency window: no duplicate`, async () => {
      // Committed, then the answer and the SDK's immediate resend (a replay) are both lost.
      stand.fail({ ...rule, mode: "drop-after-commit", times: 2 });
      const first = await cli("bill", "--period", "2026-10", "--stripe");
      expect(first.exitCode).toBe(1);
      expect(first.stderr).toContain(
        `could not complete a request to Stripe at http://127.0.0.1:${stand.port}`,
      );
      stand.forgetIdempotencyKeys();
      const again = await cli("bill", "--period", "2026-10", "--stripe");
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stderr).toContain("found from an earlier run");
      expect(again.stdout).toContain("acme-ai-2026-10-0001");
      expectEveryInvoiceOnce();
    });
  }

  it("a finalize whose response was lost is not sent again after the idempotency window", async () => {
    stand.fail({ method: "POST", path: /\/finalize$/, mode: "drop-after-commit", times: 2 });
    expect((await cli("bill", "--period", "2026-10", "--stripe", "--finalize")).exitCode).toBe(1);
    stand.forgetIdempotencyKeys();
    const again = await cli("bill", "--period", "2026-10", "--stripe", "--finalize");
    expect(again.exitCode, again.stderr).toBe(0);
    expect([...stand.invoices.values()].every((i) => i.status === "open")).toBe(true);
    // Sent once per invoice (plus the SDK's immediate resend of the lost one, a replay); never after the window.
    expect(creations().filter((r) => r.path.endsWith("/finalize"))).toHaveLength(4);
  });

  it("--finalize finalizes each draft once; late usage goes out as an adjustment invoice, never into a pushed one", async () => {
    expect((await cli("bill", "--period", "2026-10", "--stripe", "--finalize")).exitCode).toBe(0);
    expect([...stand.invoices.values()].every((i) => i.status === "open")).toBe(true);
    writeFileSync(
      join(dir, "late.ndjson"),
      `${JSON.stringify({ id: "late", type: "gpu.job", customer: "globex", timestamp: "2026-10-30T10:00:00Z", properties: { gpu: "h100", seconds: 1000 } })}\n`,
    );
    await cli("usage", "import", "late.ndjson");
    const r = await cli("bill", "--period", "2026-10", "--stripe", "--finalize", "--format", "json");
    expect(r.exitCode, r.stderr).toBe(0);
    const adjustment = JSON.parse(r.stdout).invoices.find(
      (i: { adjusts?: string }) => i.adjusts === "acme-ai-2026-10-0003",
    );
    expect(adjustment).toMatchObject({
      number: "acme-ai-2026-10-0003-A1",
      customer: "globex",
      late_events: 1,
    });
    const [pushed, adjusted] = stand.itemAmounts("cus_globex");
    expect(pushed).toEqual(ALL_ITEMS.cus_globex[0]);
    expect((adjusted ?? []).reduce((a, b) => a + b, 0)).toBe(Math.round(Number(adjustment.total) * 100));
    expect((adjusted ?? []).length).toBeGreaterThan(0);
    expect([...stand.invoices.values()].every((i) => i.status === "open")).toBe(true);
  });

  it("an invoice pushed without a record of its content (by an earlier limitr) that changed is not pushed twice (exit 5)", async () => {
    expect((await cli("bill", "--period", "2026-10", "--stripe")).exitCode).toBe(0);
    const db = new Database(join(dir, "usage.db"));
    db.prepare("DELETE FROM pushed_invoices").run();
    db.close();
    writeFileSync(
      join(dir, "late.ndjson"),
      `${JSON.stringify({ id: "late", type: "gpu.job", customer: "globex", timestamp: "2026-10-30T10:00:00Z", properties: { gpu: "h100", seconds: 1000 } })}\n`,
    );
    await cli("usage", "import", "late.ndjson");
    const r = await cli("bill", "--period", "2026-10", "--stripe");
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain("acme-ai-2026-10-0003 was pushed as");
    expect(stand.itemAmounts("cus_globex")).toHaveLength(1);
  });

  it("--dry-run prints exactly the requests the push sends, contacting nobody and recording nothing", async () => {
    const dry = await cliWith(
      { LIMITR_STRIPE_HOST: "127.0.0.1", LIMITR_STRIPE_PORT: String(stand.port) },
      "bill",
      "--period",
      "2026-10",
      "--stripe",
      "--dry-run",
      "--format",
      "json",
    );
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(stand.requests).toHaveLength(0);
    const planned = JSON.parse(dry.stdout) as {
      dryRun: boolean;
      requests: {
        method: string;
        path: string;
        idempotencyKey: string | null;
        params: Record<string, unknown>;
      }[];
    };
    expect(planned.dryRun).toBe(true);

    const text = await cliWith({}, "bill", "--period", "2026-10", "--stripe", "--dry-run");
    expect(text.stdout).toMatch(/^POST \/v1\/invoices\n {2}Idempotency-Key: limitr:acme-ai-2026-10-0001:/m);

    // The real push sends the same creations, in the same order, with the same keys and parameters.
    expect((await cli("bill", "--period", "2026-10", "--stripe")).exitCode).toBe(0);
    const plannedPosts = planned.requests.filter((r) => r.method === "POST");
    const sent = posts();
    expect(plannedPosts.map((r) => [r.path, r.idempotencyKey])).toEqual(
      sent.map((r) => [r.path.replace(/in_\d+/, ""), r.key]),
    );
    plannedPosts.forEach((r, i) => {
      const { invoice: _planned, ...params } = formLike(r.params);
      const { invoice: _sent, ...body } = sent[i]?.body ?? {};
      expect(params).toEqual(body);
    });
    expect(planned.requests.filter((r) => r.method === "GET").map((r) => r.path)).toEqual(
      stand.requests.filter((r) => r.method === "GET").map((r) => r.path),
    );
  });

  it("--stripe without STRIPE_API_KEY is a usage error; --dry-run without --stripe too", async () => {
    expect((await cliWith({ STRIPE_API_KEY: "" }, "bill", "--period", "2026-10", "--stripe")).exitCode).toBe(
      64,
    );
    expect((await cliWith({}, "bill", "--period", "2026-10", "--dry-run")).exitCode).toBe(64);
  });
});

/** Parameters the way the SDK form-encodes them: every value a string. */
function formLike(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(params).map(([k, v]) => [
      k,
      v && typeof v === "object" ? formLike(v as Record<string, unknown>) : String(v),
    ]),
  );
}

/** A port on 127.0.0.1 that nothing listens on: bound, then released. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
