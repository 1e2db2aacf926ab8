import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

/**
 * Live alert state and the delivery outbox of engines on a Postgres store
 * live in its `alert_state` and `alert_outbox` tables (those `limitr alerts
 * check --db postgres://` uses): kept across restarts, one notification per
 * crossing across engines sharing the store. Each test has its own schema.
 */
const schemas: { drop: () => Promise<void> }[] = [];
afterAll(async () => {
  for (const s of schemas) await s.drop();
});

function fresh(): { name: string; url: string } {
  const s = pgSchema("limitr_pgalerts");
  schemas.push(s);
  return s;
}

const policy: CompiledPolicy = compilePolicy(
  parse(`
limitr: 1
timezone: UTC
meters:
  tokens: { event: llm, aggregation: sum, property: tokens }
plans:
  pro:
    default: true
    entitlements:
      chat: { meter: tokens, limit: 1000, mode: soft }
channels:
  ops: { type: webhook, url: "\${HOOK_URL}" }
alerts:
  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }
`) as Record<string, unknown>,
);

const FAST = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 2_000 };

async function rows(schema: string) {
  const state = await pgQuery<{ alert: string; customer: string; state: string }>(
    "SELECT alert, customer, state FROM alert_state ORDER BY customer",
    [],
    schema,
  );
  const outbox = await pgQuery<{ id: string; channel: string; delivered: boolean }>(
    "SELECT id, channel, delivered_at IS NOT NULL AS delivered FROM alert_outbox ORDER BY created_at",
    [],
    schema,
  );
  return { state, outbox };
}

const until = async (test: () => boolean) => {
  const deadline = Date.now() + 5_000;
  while (!test() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

describe("live alerts of engines on a Postgres store", () => {
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterEach(() => receiver.stop());

  it("a firing moves the rule's state and queues its notification in Postgres; delivered is recorded there; a restart does not fire it again", async () => {
    const s = fresh();
    const open = () =>
      Limitr.open({
        policy,
        store: s.url,
        exclusive: true,
        deliverAlerts: { env: { HOOK_URL: receiver.url }, retry: FAST, intervalMs: 50 },
      });
    const a = await open();
    a.allow("bob", "chat", 900);
    await a.flush();
    await until(() => receiver.received.length > 0);
    expect(receiver.received.map((r) => JSON.parse(r.body).alert)).toEqual(["chat-80"]);
    await a.close();
    const after = await rows(s.name);
    expect(after.state).toEqual([{ alert: "chat-80", customer: "bob", state: expect.any(String) }]);
    expect(after.state[0]?.state).not.toBe("armed");
    expect(after.outbox).toEqual([
      { id: JSON.parse(receiver.received[0]?.body ?? "{}").id, channel: "ops", delivered: true },
    ]);

    // The state came back from Postgres: more usage in the same period fires nothing new.
    const b = await open();
    b.allow("bob", "chat", 50);
    await b.flush();
    await new Promise((r) => setTimeout(r, 200));
    await b.close();
    expect(receiver.received).toHaveLength(1);
    expect((await rows(s.name)).outbox).toHaveLength(1);
  }, 30_000);

  it("two engines sharing the store that see the same crossing queue and deliver one notification", async () => {
    const s = fresh();
    const open = () =>
      Limitr.open({
        policy,
        store: s.url,
        deliverAlerts: { env: { HOOK_URL: receiver.url }, retry: FAST, intervalMs: 50 },
      });
    const [a, b] = [await open(), await open()];
    a.allow("bob", "chat", 900);
    b.allow("bob", "chat", 900);
    await Promise.all([a.flush(), b.flush()]);
    await until(() => receiver.received.length > 0);
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([a.close(), b.close()]);
    expect(receiver.received).toHaveLength(1);
    const after = await rows(s.name);
    expect(after.outbox).toEqual([{ id: expect.any(String), channel: "ops", delivered: true }]);
    expect(after.state).toHaveLength(1);
  }, 30_000);
});
