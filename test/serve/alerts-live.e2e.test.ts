import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { POLICIES, serve } from "./serve-process.js";

const SECRET = "whsec_live_test";
let dir: string;
let receiver: WebhookReceiver;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-serve-alerts-"));
  receiver = new WebhookReceiver(SECRET);
  await receiver.start();
});
afterEach(async () => {
  await receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(test: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

it("a threshold crossed through the HTTP API reaches the webhook within 2 seconds, once, and not again after a restart", async () => {
  const db = join(dir, "usage.db");
  const env = { LIMITR_OPS_WEBHOOK_URL: receiver.url, LIMITR_WEBHOOK_SECRET: SECRET };
  const s = await serve(["--policies", POLICIES, "--db", db], env);
  try {
    // A new self-serve customer lands on the free plan; using its whole chat_input limit fires free-exhausted.
    const crossed = Date.now();
    const r = await s.post("/v1/decide", { customer: "newco", entitlement: "chat_input", amount: 100_000 });
    expect(r.body).toMatchObject({ allowed: true, used: 100_000, limit: 100_000 });
    await until(() => receiver.received.length > 0, 5_000);
    expect(receiver.received).toHaveLength(1);
    expect(Date.now() - crossed).toBeLessThan(2_000);
    const got = receiver.received[0]!;
    expect(got.signatureValid).toBe(true);
    expect(JSON.parse(got.body)).toMatchObject({
      event: "alert.triggered",
      alert: "free-exhausted",
      customer: "newco",
      plan: "free",
      entitlement: "chat_input",
    });
    // More usage in the same period does not fire it again.
    await s.post("/v1/record", {
      type: "llm.completion",
      customer: "newco",
      properties: { model: "gpt-4o", input_tokens: 10, output_tokens: 1 },
    });
    await new Promise((r) => setTimeout(r, 1_200));
    expect(receiver.received).toHaveLength(1);
    const metrics = (await s.get("/metrics")).text;
    expect(metrics).toMatch(/^limitr_alerts_delivered 1$/m);
    expect(metrics).toMatch(/^limitr_alert_outbox_depth 0$/m);
  } finally {
    expect(await s.stop()).toBe(0);
  }
  // The outbox marked it delivered: a restarted server sends nothing again.
  const again = await serve(["--policies", POLICIES, "--db", db], env);
  try {
    await new Promise((r) => setTimeout(r, 1_200));
    expect(receiver.received).toHaveLength(1);
  } finally {
    expect(await again.stop()).toBe(0);
  }
});

it("a receiver that is down gets the notification once it is back, from the same running server", async () => {
  const db = join(dir, "usage.db");
  receiver.failNext = 2;
  const env = { LIMITR_OPS_WEBHOOK_URL: receiver.url, LIMITR_WEBHOOK_SECRET: SECRET };
  const s = await serve(["--policies", POLICIES, "--db", db], env);
  try {
    const r = await s.post("/v1/decide", { customer: "newco", entitlement: "chat_output", amount: 50_000 });
    expect(r.body).toMatchObject({ allowed: true, used: 50_000 });
    await until(() => receiver.received.length > 0, 10_000);
    expect(receiver.received.map((r) => JSON.parse(r.body).alert)).toEqual(["free-exhausted"]);
  } finally {
    expect(await s.stop()).toBe(0);
  }
});

it("rules on billing figures (spend) are evaluated inside the server on a schedule and delivered", async () => {
  const policies = join(dir, "policies");
  cpSync(POLICIES, policies, { recursive: true });
  appendFileSync(
    join(policies, "alerts.yaml"),
    `\n  any-spend:\n    when: spend > 0 && customer == "globex"\n    channels: [ops]\n`,
  );
  const env = { LIMITR_OPS_WEBHOOK_URL: receiver.url, LIMITR_WEBHOOK_SECRET: SECRET };
  const s = await serve(
    ["--policies", policies, "--db", join(dir, "usage.db"), "--alerts-every", "300"],
    env,
  );
  try {
    await until(() => receiver.received.length > 0, 10_000);
    const got = receiver.received.map((r) => JSON.parse(r.body));
    expect(got).toEqual([
      expect.objectContaining({ alert: "any-spend", customer: "globex", entitlement: null }),
    ]);
    expect(got[0].figures.spend).toBeGreaterThan(0);
    // Evaluated again on every tick, delivered once.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(receiver.received).toHaveLength(1);
  } finally {
    expect(await s.stop()).toBe(0);
  }
});
