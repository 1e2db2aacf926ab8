import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { Limitr } from "../../src/engine/index.js";
import { REPO } from "../cli/run-cli.js";

const POLICY = join(REPO, "fixtures", "credits", "spec-wallet");
const NOV3 = Date.UTC(2026, 10, 3, 12);
let engine: Limitr | null = null;
afterEach(async () => {
  await engine?.close();
  engine = null;
});

it("R17 the SPEC §12 example: a mixed gpt-4o call is priced in credits and paid from a credit wallet, never into its reserve", async () => {
  engine = await Limitr.open({ policy: POLICY, store: "memory" });
  // 1,200 input tokens at 0.25 and 300 output tokens at 1.0 credits per 1,000: 0.3 + 0.3 = 0.6 credits.
  const d = engine.decide("acme", "chat", {
    properties: { model: "gpt-4o", input_tokens: 1_200, output_tokens: 300 },
    now: NOV3,
  });
  expect(d).toMatchObject({ allowed: true, reason: "ok", used: 0.6 });
  // The month's grant of 1,000 credits, less the call; 100 are the reserve no call may spend.
  expect(engine.balance("acme", { now: NOV3 })).toMatchObject({
    unit: "credits",
    balance: "999.4",
    available: "899.4",
    minimum: "100",
  });
  const tooBig = engine.decide("acme", "chat", 900, { now: NOV3 });
  expect(tooBig).toMatchObject({ allowed: false, reason: "insufficient_balance" });
  expect(engine.balance("acme", { now: NOV3 }).balance).toBe("999.4"); // a refused call changes nothing
  expect(engine.decide("acme", "chat", 899.4, { now: NOV3 }).allowed).toBe(true);
  expect(engine.balance("acme", { now: NOV3 }).available).toBe("0");
  const ledger = engine.transactions("acme", { now: NOV3 }).map((t) => [t.kind, t.amount, t.balanceAfter]);
  expect(ledger).toEqual([
    ["grant", "1000", "1000"],
    ["debit", "-0.6", "999.4"],
    ["debit", "-899.4", "100"],
  ]);
});
