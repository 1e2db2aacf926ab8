import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { apiPolicy, pushVersion, removeTempDirs, tempDir } from "../engine/reload-helpers.js";
import { StaticServer } from "../helpers/static-server.js";
import { POLICIES, serve } from "./serve-process.js";

afterAll(removeTempDirs);

it("/healthz answers at once; /readyz and the API are 503 until a policy is active", async () => {
  const root = tempDir();
  await pushVersion(root, "production", apiPolicy(100, "0.01"), null);
  const host = await new StaticServer(root).start();
  host.delayMs = 3000;
  const s = await serve(
    ["--bundle-url", `${host.url}/production`, "--store", "memory"],
    {},
    { waitReady: false },
  );
  try {
    expect((await s.get("/healthz")).status).toBe(200);
    expect(await s.get("/readyz")).toMatchObject({ status: 503, body: { error: { code: "not_ready" } } });
    const early = await s.post("/v1/check", { customer: "c", entitlement: "api" });
    expect(early).toMatchObject({ status: 503, body: { error: { code: "not_ready" } } });
    await vi.waitFor(async () => expect((await s.get("/readyz")).status).toBe(200), { timeout: 10_000 });
    const d = await s.post("/v1/check", { customer: "c", entitlement: "api" });
    expect(d.body).toMatchObject({ allowed: true, limit: 100, version: 1 });
  } finally {
    expect(await s.stop()).toBe(0);
    await host.stop();
  }
});

it("R8 a hold survives a restart: its id can still be settled", async () => {
  const db = join(mkdtempSync(join(tmpdir(), "limitr-serve-holds-")), "usage.db");
  const first = await serve(["--policies", POLICIES, "--db", db]);
  const r = await first.post("/v1/reserve", { customer: "hold-co", entitlement: "mcp_search", amount: 30 });
  const hold = (r.body.hold as { id: string }).id;
  expect(await first.stop()).toBe(0);

  const second = await serve(["--policies", POLICIES, "--db", db]);
  try {
    const usage = await second.get("/v1/customers/hold-co/usage");
    const row = (usage.body.entitlements as Record<string, unknown>[]).find(
      (e) => e.entitlement === "mcp_search",
    );
    expect(row).toMatchObject({ used: 0, held: 30 });
    const settled = await second.post("/v1/settle", { hold, actual: 12 });
    expect(settled.body).toMatchObject({ allowed: true, reason: "ok", used: 12, remaining: 88 });
  } finally {
    expect(await second.stop()).toBe(0);
  }
});

it("a policy that cannot be loaded stops the server with exit 3 and a message, no stack trace", async () => {
  const r = await limitr([
    "serve",
    "--port",
    "0",
    "--store",
    "memory",
    "--policies",
    "/nonexistent/policies",
  ]);
  expect(r.exitCode).toBe(3);
  expect(r.stderr).toContain("/nonexistent/policies does not exist");
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

it("R1 customer usage of a customer with no contract, stored plan or default plan is a 404", async () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, "limitr.yaml"),
    JSON.stringify({
      limitr: 1,
      name: "no-default",
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: { paid: { entitlements: { api: { meter: "calls", limit: 10, mode: "hard" } } } },
      customers: { known: { plan: "paid" } },
    }),
  );
  const s = await serve(["--policies", dir, "--store", "memory"]);
  try {
    expect((await s.get("/v1/customers/known/usage")).body).toMatchObject({
      entitlements: [{ entitlement: "api", used: 0, limit: 10 }],
    });
    const r = await s.get("/v1/customers/stranger/usage");
    expect(r).toMatchObject({ status: 404, body: { error: { code: "unknown_customer" } } });
    const d = await s.post("/v1/decide", { customer: "stranger", entitlement: "api" });
    expect(d.body).toMatchObject({ allowed: false, reason: "unknown_customer" });
  } finally {
    expect(await s.stop()).toBe(0);
  }
});
