import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { limitrInProcess as cli } from "../cli/run-cli.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { dropPrefix, REDIS_URL, connect as redisConnect } from "../redis/redis-helpers.js";
import { POLICIES, type Served, serve } from "../serve/serve-process.js";

/**
 * `limitr serve --db postgres://` (SPEC §11, §13): the engine behind HTTP writes to
 * the shared store, and the batch commands read what it wrote.
 */
const s = pgSchema("limitr_pgserve");

/**
 * The example policy without its pay-as-you-go plan: these tests are about
 * events and counters (engines sharing its wallet and cap are tested in
 * pg-shared-wallets.e2e.test.ts).
 */
function sharedPolicies(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "limitr-pgserve-")), "policies");
  cpSync(POLICIES, dir, { recursive: true });
  const plans = join(dir, "plans.yaml");
  const doc = parseDocument(readFileSync(plans, "utf8"));
  doc.deleteIn(["plans", "payg"]);
  writeFileSync(plans, doc.toString());
  return dir;
}
const policies = sharedPolicies();
const prefix = `limitr-test-pgserve-${randomBytes(4).toString("hex")}:`;
const servers: Served[] = [];
afterAll(async () => {
  for (const x of servers) await x.stop();
  await s.drop();
  const redis = await redisConnect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

it("limitr serve --db postgres:// records to Postgres; usage query and bill read it", async () => {
  const args = ["--policies", policies, "--db", s.url, "--counters", REDIS_URL, "--counters-prefix", prefix];
  const a = await serve(args);
  const b = await serve(args);
  servers.push(a, b);
  for (const [i, server] of [a, b, a, b].entries()) {
    // A server's first call on a customer may answer lease_pending while its slice arrives: a client retries.
    for (let attempt = 0; ; attempt++) {
      const r = await server.post("/v1/decide", {
        customer: "pg-co",
        entitlement: "chat_input",
        amount: 1000,
        id: `req-${i}`,
      });
      expect(r.status, r.text).toBe(200);
      if (r.body.reason === "lease_pending" && attempt < 100) {
        await new Promise((done) => setTimeout(done, 20));
        continue;
      }
      expect(r.body.allowed, r.text).toBe(true);
      break;
    }
  }
  const status = await a.get("/healthz");
  expect(status.status).toBe(200);
  // The meters endpoint reads the shared store (after writing what this server holds).
  const m = await a.get("/v1/meters/input_tokens?customer=pg-co");
  expect(m.status, m.text).toBe(200);
  expect(await a.stop()).toBe(0);
  expect(await b.stop()).toBe(0);
  servers.length = 0;

  const q = await cli(["--db", s.url, "usage", "query", "--customer", "pg-co", "--format", "json"]);
  expect(q.exitCode, q.stderr).toBe(0);
  const rows = JSON.parse(q.stdout).rows as { meter: string; value: number }[];
  const tokens = rows.filter((r) => r.meter === "input_tokens").reduce((n, r) => n + Number(r.value), 0);
  expect(tokens).toBe(4000);
  const now = new Date();
  const period = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
  // The servers ran a policy directory that was never pushed: bill prices the period with it.
  const bill = await cli([
    "--db",
    s.url,
    "--policies",
    policies,
    "bill",
    "--period",
    period,
    "--customer",
    "pg-co",
    "--format",
    "json",
  ]);
  expect(bill.exitCode, bill.stderr).toBe(0);
  expect(bill.stdout).toContain("pg-co");
}, 90_000);

it("limitr serve --db postgres:// without --counters leases hard limits from the store's rows (the example policy's wallet and cap too)", async () => {
  // The example policy's payg plan: its wallet is leased from the store, its spend cap and hard limits from the rows.
  const full = await serve(["--policies", POLICIES, "--db", s.url]);
  expect(await full.stop()).toBe(0);
  const a = await serve(["--policies", policies, "--db", s.url]);
  const b = await serve(["--policies", policies, "--db", s.url]);
  servers.push(a, b);
  for (const [i, server] of [a, b].entries()) {
    for (let attempt = 0; ; attempt++) {
      const r = await server.post("/v1/decide", {
        customer: "rows-co",
        entitlement: "chat_input",
        amount: 500,
      });
      expect(r.status, r.text).toBe(200);
      if (r.body.reason === "lease_pending" && attempt < 100) {
        await new Promise((done) => setTimeout(done, 20));
        continue;
      }
      expect(r.body.allowed, `server ${i}: ${r.text}`).toBe(true);
      break;
    }
  }
  expect(await a.stop()).toBe(0);
  expect(await b.stop()).toBe(0);
  servers.length = 0;
  const pools = await pgQuery<{ consumed: number; outstanding: number }>(
    "SELECT consumed, outstanding FROM lease_pools WHERE counter LIKE 'rows-co|chat_input'",
    [],
    s.name,
  );
  expect(pools).toEqual([{ consumed: 1000, outstanding: 0 }]);
}, 60_000);
