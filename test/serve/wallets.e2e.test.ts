import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Served, serve } from "./serve-process.js";

let dir: string;
let s: Served;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-serve-wallets-"));
  const policy = join(dir, "policy.yaml");
  writeFileSync(
    policy,
    `limitr: 1
currency: USD
timezone: UTC
meters:
  tokens: { event: llm.completion, aggregation: sum, property: tokens }
plans:
  payg:
    default: true
    wallet: { unit: USD, minimum: 1 }
    entitlements:
      chat: { meter: tokens, mode: prepaid, price: { model: per_unit, unit_price: 0.01 } }
  free:
    entitlements:
      chat: { meter: tokens, limit: 100 }
customers:
  nowallet: { plan: free }
`,
  );
  s = await serve(["--policies", dir, "--db", join(dir, "usage.db")]);
});
afterAll(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("top up over HTTP, spend through /v1/allow, read the balance and the ledger (exact decimals, idempotent by id)", async () => {
  const first = await s.post("/v1/customers/acme/topups", { amount: "10.00", id: "order-1", note: "card" });
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({
    duplicate: false,
    transaction: { kind: "credit", amount: "10", balanceAfter: "10" },
  });
  const again = await s.post("/v1/customers/acme/topups", { amount: "10.00", id: "order-1" });
  expect(again.body).toMatchObject({ duplicate: true });

  // 850 tokens at $0.01 = $8.50: allowed; 100 more ($1.00) would leave less than the $1 minimum.
  expect(
    (await s.post("/v1/decide", { customer: "acme", entitlement: "chat", amount: 850 })).body,
  ).toMatchObject({
    allowed: true,
    price: "8.5",
  });
  expect(
    (await s.post("/v1/decide", { customer: "acme", entitlement: "chat", amount: 100 })).body,
  ).toMatchObject({
    allowed: false,
    reason: "insufficient_balance",
  });

  const balance = await s.get("/v1/customers/acme/balance");
  expect(balance.status).toBe(200);
  expect(balance.body).toMatchObject({
    unit: "USD",
    balance: "1.5",
    available: "0.5",
    minimum: "1",
    reserved: "0",
  });

  const ledger = await s.get("/v1/customers/acme/transactions");
  const rows = ledger.body.transactions as { kind: string; amount: string; balanceAfter: string }[];
  expect(rows.map((r) => [r.kind, r.amount, r.balanceAfter])).toEqual([
    ["credit", "10", "10"],
    ["debit", "-8.5", "1.5"],
  ]);
});

it("a customer without a wallet is 404 no_wallet; a bad amount is 400 or 422, never a stack trace", async () => {
  const missing = await s.get("/v1/customers/nowallet/balance");
  expect(missing.status).toBe(404);
  expect(missing.body).toMatchObject({ error: { code: "no_wallet" } });
  const bad = await s.post("/v1/customers/acme/topups", { amount: "ten" });
  expect([400, 422]).toContain(bad.status);
  expect(bad.text).not.toMatch(/\bat \w+ \(/);
  const extra = await s.post("/v1/customers/acme/topups", { amount: "1", surprise: true });
  expect(extra.status).toBe(400);
});
