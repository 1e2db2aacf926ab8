import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";
import { POLICIES, type Served, serve } from "./serve-process.js";

let s: Served;
let db: string;
beforeAll(async () => {
  db = join(mkdtempSync(join(tmpdir(), "limitr-serve-api-")), "usage.db");
  s = await serve(["--policies", POLICIES, "--db", db, "--body-limit", "4096"]);
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
});

/** No answer ever carries a stack trace or a source location. */
function expectNoTrace(text: string) {
  expect(text).not.toMatch(/\n\s+at |\.ts:\d+|\.js:\d+/);
}

describe("decisions over HTTP (SPEC §13)", () => {
  it("decide counts and answers the library's Decision; check counts nothing", async () => {
    const d = await s.post("/v1/decide", { customer: "http-a", entitlement: "mcp_search", amount: 3 });
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({
      allowed: true,
      reason: "ok",
      used: 3,
      limit: 100,
      remaining: 97,
      overage: 0,
    });
    expect(Object.keys(d.body).sort()).toEqual(
      [
        "allowed",
        "digest",
        "limit",
        "overage",
        "price",
        "reason",
        "remaining",
        "resetsAt",
        "used",
        "version",
      ].sort(),
    );
    const c = await s.post("/v1/check", { customer: "http-a", entitlement: "mcp_search", amount: 97 });
    expect(c.body).toMatchObject({ allowed: true, used: 3, remaining: 97 });
    const again = await s.post("/v1/check", { customer: "http-a", entitlement: "mcp_search", amount: 1 });
    expect(again.body).toMatchObject({ used: 3 });
  });

  it("R3 a denial is a 200 with allowed=false and its reason, on decide and allow", async () => {
    const d = await s.post("/v1/decide", { customer: "http-b", entitlement: "mcp_search", amount: 101 });
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ allowed: false, reason: "limit_exceeded", used: 0 });
    const a = await s.post("/v1/allow", { customer: "http-b", entitlement: "mcp_search", amount: 101 });
    expect(a).toMatchObject({ status: 200, body: { allowed: false, reason: "limit_exceeded" } });
    const ok = await s.post("/v1/allow", { customer: "http-b", entitlement: "mcp_search", amount: 100 });
    expect(ok.body).toEqual({ allowed: true });
    const flag = await s.post("/v1/allow", { customer: "http-b", entitlement: "export_pdf" });
    expect(flag.body).toEqual({ allowed: false, reason: "feature_disabled" });
  });

  it("R13 allow with an id counts once", async () => {
    const body = { customer: "http-c", entitlement: "mcp_search", amount: 5, id: "req-1" };
    await s.post("/v1/allow", body);
    await s.post("/v1/allow", body);
    const u = await s.get("/v1/customers/http-c/usage");
    const row = (u.body.entitlements as { entitlement: string; used: number }[]).find(
      (e) => e.entitlement === "mcp_search",
    );
    expect(row?.used).toBe(5);
  });

  it("record counts toward every matching entitlement and is idempotent by id (R13)", async () => {
    const event = {
      id: "evt-http-1",
      type: "llm.completion",
      customer: "http-d",
      properties: { model: "gpt-4o", input_tokens: 1200, output_tokens: 300 },
    };
    const r = await s.post("/v1/record", event);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: "evt-http-1", duplicate: false });
    const counted = r.body.counted as { entitlement: string; amount: number }[];
    expect(counted.map((c) => [c.entitlement, c.amount]).sort()).toEqual([
      ["chat_input", 1200],
      ["chat_output", 300],
    ]);
    const again = await s.post("/v1/record", event);
    expect(again.body).toMatchObject({ duplicate: true, counted: [] });
  });

  it("R8 reserve returns a hold id; settle counts the actual usage; release frees it", async () => {
    const r = await s.post("/v1/reserve", { customer: "http-e", entitlement: "mcp_search", amount: 60 });
    expect(r.body).toMatchObject({
      allowed: true,
      hold: { customer: "http-e", entitlement: "mcp_search", amount: 60 },
    });
    const hold = (r.body.hold as { id: string }).id;
    const refused = await s.post("/v1/reserve", {
      customer: "http-e",
      entitlement: "mcp_search",
      amount: 50,
    });
    expect(refused.body).toEqual({ allowed: false, reason: "limit_exceeded" });
    const settled = await s.post("/v1/settle", { hold, actual: 10 });
    expect(settled.body).toMatchObject({ allowed: true, reason: "ok", used: 10, remaining: 90 });
    const retry = await s.post("/v1/settle", { hold, actual: 10 });
    expect(retry.body).toMatchObject({ allowed: true, reason: "duplicate", used: 10 });
    expect((await s.post("/v1/release", { hold })).status).toBe(409);

    const r2 = await s.post("/v1/reserve", { customer: "http-e", entitlement: "mcp_search", amount: 80 });
    const hold2 = (r2.body.hold as { id: string }).id;
    expect((await s.post("/v1/release", { hold: hold2 })).body).toEqual({ released: true });
    const settleReleased = await s.post("/v1/settle", { hold: hold2, actual: 1 });
    expect(settleReleased.status).toBe(409);
    expect(settleReleased.body).toMatchObject({ error: { code: "hold_released" } });
    const unknown = await s.post("/v1/settle", { hold: "h-nope", actual: 1 });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: "unknown_hold" } } });
  });

  it("batch answers every call in order, each on its own", async () => {
    const r = await s.post("/v1/batch", {
      calls: [
        { op: "decide", body: { customer: "http-f", entitlement: "mcp_search", amount: 40 } },
        { op: "check", body: { customer: "http-f", entitlement: "mcp_search", amount: 70 } },
        { op: "allow", body: { customer: "http-f" } },
        { op: "settle", body: { hold: "h-missing", actual: 1 } },
        { op: "allow", body: { customer: "http-f", entitlement: "mcp_search", amount: 60 } },
      ],
    });
    expect(r.status).toBe(200);
    const results = r.body.results as { status: number; body: Record<string, unknown> }[];
    expect(results.map((x) => x.status)).toEqual([200, 200, 400, 404, 200]);
    expect(results[0]?.body).toMatchObject({ allowed: true, used: 40 });
    expect(results[1]?.body).toMatchObject({ allowed: false, reason: "limit_exceeded", used: 40 });
    expect(results[2]?.body).toMatchObject({
      error: { code: "invalid_request", message: "calls/2/body must have required property 'entitlement'" },
    });
    expect(results[4]?.body).toEqual({ allowed: true });
  });
});

describe("errors: one JSON shape, never a stack trace", () => {
  it("malformed JSON is a 400 malformed_json", async () => {
    const r = await s.post("/v1/decide", '{"customer": "x", ');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { code: "malformed_json" } });
    expectNoTrace(r.text);
  });

  it("a body that breaks the schema is a 400 naming the field", async () => {
    const wrongType = await s.post("/v1/decide", { customer: "x", entitlement: "api", amount: "5" });
    expect(wrongType.body).toEqual({
      error: { code: "invalid_request", message: "body/amount must be number" },
    });
    const extra = await s.post("/v1/check", { customer: "x", entitlement: "api", amout: 5 });
    expect(extra.status).toBe(400);
    expect((extra.body.error as { message: string }).message).toContain("amout");
  });

  it("a body past --body-limit is a 413", async () => {
    const r = await s.post("/v1/record", {
      type: "llm.completion",
      customer: "x",
      properties: { pad: "x".repeat(5000) },
    });
    expect(r).toMatchObject({ status: 413, body: { error: { code: "body_too_large" } } });
  });

  it("an unreadable timestamp is a 422", async () => {
    const r = await s.post("/v1/record", {
      type: "llm.completion",
      customer: "x",
      timestamp: "yesterday-ish",
    });
    expect(r).toMatchObject({ status: 422, body: { error: { code: "invalid_input" } } });
    expect((r.body.error as { message: string }).message).toContain("yesterday-ish");
    expectNoTrace(r.text);
  });

  it("a body that is not JSON is a 415", async () => {
    const r = await s.post("/v1/check", "customer=x", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(r).toMatchObject({ status: 415, body: { error: { code: "unsupported_media_type" } } });
  });

  it("an unknown route is a 404", async () => {
    const r = await s.post("/v1/nope", {});
    expect(r).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });
});

describe("usage reads", () => {
  it("customer usage lists the plan's entitlements with live counters", async () => {
    await s.post("/v1/decide", { customer: "http-g", entitlement: "chat_input", amount: 250 });
    const r = await s.get("/v1/customers/http-g/usage");
    expect(r.status).toBe(200);
    const rows = r.body.entitlements as Record<string, unknown>[];
    expect(rows.find((e) => e.entitlement === "chat_input")).toMatchObject({
      kind: "metered",
      used: 250,
      held: 0,
      limit: 100000,
      remaining: 99750,
    });
    expect(rows.find((e) => e.entitlement === "export_pdf")).toMatchObject({ kind: "flag", enabled: false });
    expect(rows.find((e) => e.entitlement === "gpu")).toBeUndefined(); // not in the free plan
  });

  it("meter usage is what `limitr usage query` computes from the store", async () => {
    for (const [i, tokens] of [700, 300, 1000].entries())
      await s.post("/v1/record", {
        id: `meter-${i}`,
        type: "llm.completion",
        customer: i === 2 ? "http-i" : "http-h",
        properties: { model: "gpt-4o", input_tokens: tokens, output_tokens: 1 },
      });
    const r = await s.get("/v1/meters/input_tokens?group_by=customer");
    expect(r.status).toBe(200);
    const cli = await limitr(
      ["usage", "query", "--db", db, "--meter", "input_tokens", "--format", "json"],
      REPO,
    );
    expect(cli.exitCode).toBe(0);
    expect(r.body.rows).toEqual(JSON.parse(cli.stdout).rows);
    expect(r.body.rows).toContainEqual({
      meter: "input_tokens",
      customer: "http-h",
      value: "1000",
      events: 2,
    });
    const one = await s.get("/v1/meters/input_tokens?customer=http-i&group_by=model");
    expect(one.body.rows).toEqual([{ meter: "input_tokens", model: "gpt-4o", value: "1000", events: 1 }]);
    expect((await s.get("/v1/meters/nope")).status).toBe(404);
    const bad = await s.get("/v1/meters/input_tokens?group_by=day");
    expect(bad).toMatchObject({ status: 422, body: { error: { code: "invalid_query" } } });
    expect((bad.body.error as { message: string }).message).toContain("group_by day needs period");
  });
});

describe("operations", () => {
  it("/openapi.json is the committed schemas/openapi.json (npm run gen:openapi)", async () => {
    const served = await s.get("/openapi.json");
    const committed = JSON.parse(readFileSync(join(REPO, "schemas/openapi.json"), "utf8"));
    expect(served.body).toEqual(committed);
    expect(Object.keys(committed.paths)).toContain("/v1/batch");
  });

  it("/metrics exposes decisions by entitlement and reason, denials and the active bundle", async () => {
    await s.post("/v1/decide", { customer: "http-m", entitlement: "mcp_search", amount: 1000 });
    await s.post("/v1/decide", { customer: "http-m", entitlement: "no_such_thing" });
    const r = await s.get("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    expect(r.text).toMatch(/limitr_decisions_total\{op="decide",entitlement="mcp_search",reason="ok"\} \d+/);
    expect(r.text).toMatch(/limitr_denials_total\{entitlement="mcp_search",reason="limit_exceeded"\} [1-9]/);
    expect(r.text).toMatch(
      /limitr_denials_total\{entitlement="\(unknown\)",reason="unknown_entitlement"\} 1/,
    );
    expect(r.text).toMatch(/limitr_bundle_version 0/);
    expect(r.text).toMatch(/limitr_ready 1/);
    expect(r.text).toMatch(/limitr_store_up 1/);
    expect(r.text).toMatch(/limitr_http_request_duration_seconds_bucket\{.*route="\/v1\/decide"/);
  });

  it("/healthz and /readyz answer", async () => {
    expect((await s.get("/healthz")).body).toEqual({ status: "ok" });
    expect((await s.get("/readyz")).body).toMatchObject({ status: "ready", version: 0, source: "directory" });
  });
});
