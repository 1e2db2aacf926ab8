import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { drainOutbox } from "../../src/engine/adapters/alerts/dispatch.js";
import { AlertStore } from "../../src/engine/adapters/alerts/outbox.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { Limitr } from "../../src/engine/index.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

const policy = (alerts: string): CompiledPolicy =>
  compilePolicy(
    parse(`
limitr: 1
name: live
timezone: UTC
meters:
  tokens: { event: llm, aggregation: sum, property: tokens }
plans:
  pro:
    default: true
    entitlements:
      chat: { meter: tokens, limit: 1000, mode: soft, overage: 0.01 }
      pool: { meter: tokens, limit: 1000, mode: soft, scope: root }
customers:
  acme: { plan: pro, metadata: { segment: enterprise } }
  acme-lab: { plan: pro, parent: acme, metadata: { segment: growth } }
channels:
  ops: { type: webhook, url: "\${HOOK_URL}" }
alerts:
${alerts}
`) as Record<string, unknown>,
  );

const OCT = (day: number, hour = 12) => Date.UTC(2026, 9, day, hour);

interface Seen {
  id: string;
  kind: string;
  alert: string;
  customer: string;
  entitlement: string | null;
  variables: Record<string, unknown>;
}

async function engine(p: CompiledPolicy, store = "memory") {
  const l = await Limitr.open({ policy: p, store, durability: "sync" });
  const seen: Seen[] = [];
  l.on("alert", (e) => seen.push(e as Seen));
  return { l, seen };
}

describe("live alert rules in the engine", () => {
  it("once: period fires once when usage crosses 80%, and again in the next period", async () => {
    const { l, seen } = await engine(
      policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`),
    );
    l.allow("bob", "chat", 700, { now: OCT(2) });
    await l.flush();
    expect(seen).toHaveLength(0);
    l.allow("bob", "chat", 150, { now: OCT(3) });
    l.allow("bob", "chat", 500, { now: OCT(4) });
    await l.flush();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      kind: "triggered",
      alert: "chat-80",
      customer: "bob",
      entitlement: "chat",
    });
    expect(seen[0]!.variables.usage).toBe(1350);
    l.allow("bob", "chat", 10, { now: OCT(5) });
    await l.flush();
    expect(seen).toHaveLength(1);
    l.allow("bob", "chat", 900, { now: Date.UTC(2026, 10, 2) });
    await l.flush();
    expect(seen).toHaveLength(2);
    await l.close();
  });

  it("once: crossing resolves when the condition turns false and fires again", async () => {
    const { l, seen } = await engine(
      policy(
        `  chat-90: { when: "usage_percent >= 90", entitlement: chat, once: crossing, channels: [ops] }`,
      ),
    );
    l.allow("bob", "chat", 950, { now: OCT(2) });
    await l.flush();
    l.allow("bob", "chat", -200, { now: OCT(3) }); // a refund drops usage to 75%
    await l.flush();
    l.allow("bob", "chat", 300, { now: OCT(4) });
    await l.flush();
    expect(seen.map((s) => s.kind)).toEqual(["triggered", "resolved", "triggered"]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(3);
    await l.close();
  });

  it("projects usage linearly to the period end", async () => {
    const { l, seen } = await engine(
      policy(`  burn: { when: "projected_percent >= 150", entitlement: chat, channels: [ops] }`),
    );
    // 600 of 1000 after 10 of 31 days projects to 1860 (186%).
    l.allow("bob", "chat", 600, { now: Date.UTC(2026, 9, 11) });
    await l.flush();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.variables.projected_usage).toBeCloseTo(1860, 6);
    await l.close();
  });

  it("reads contract metadata and the account tree, on shared counters", async () => {
    const { l, seen } = await engine(
      policy(
        `  lab-pool: { when: 'metadata.segment == "growth" && parent == "acme" && usage_percent >= 50', entitlement: pool, channels: [ops] }`,
      ),
    );
    l.allow("acme", "pool", 400, { now: OCT(2) }); // the root's own use: 40% of the shared pool
    l.allow("acme-lab", "pool", 200, { now: OCT(3) }); // the lab sees the same counter: 60%
    await l.flush();
    expect(seen.map((s) => s.customer)).toEqual(["acme-lab"]);
    expect(seen[0]!.variables.usage).toBe(600);
    await l.close();
  });

  it("leaves rules that need a billing run (spend, margin) to limitr alerts check", async () => {
    const { l, seen } = await engine(
      policy(`  thin: { when: "spend > 0 && usage_percent >= 1", entitlement: chat, channels: [ops] }`),
    );
    l.allow("bob", "chat", 900, { now: OCT(2) });
    await l.flush();
    expect(seen).toHaveLength(0);
    await l.close();
  });

  it("evaluates on its own shortly after the counter changes, without a flush", async () => {
    const { l, seen } = await engine(
      policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`),
    );
    l.allow("bob", "chat", 900, { now: OCT(2) });
    expect(seen).toHaveLength(0); // never inside the call
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toHaveLength(1);
    await l.close();
  });

  it("a listener that changes a plan while a call is being counted: the call stands, the rules still run", async () => {
    const { l, seen } = await engine(
      policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`),
    );
    // The threshold notice comes in the middle of counting; the plan change empties the slot table.
    l.on("threshold", (e) => {
      if (e.threshold === 50) l.setPlan(e.customer, "pro", { at: OCT(1) });
    });
    expect(l.allow("bob", "chat", 600, { now: OCT(2) })).toBe(true);
    await l.flush();
    expect(l.usage("bob", "chat", { now: OCT(2) }).used).toBe(600);
    expect(l.allow("bob", "chat", 300, { now: OCT(3) })).toBe(true);
    await l.flush();
    expect(seen.map((e) => e.alert)).toEqual(["chat-80"]);
  });
});

describe("live alerts with the SQLite store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-live-alerts-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("remember their state across a restart and queue notifications for delivery", async () => {
    const p = policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`);
    const file = join(dir, "usage.db");
    let { l, seen } = await engine(p, `sqlite:${file}`);
    l.allow("bob", "chat", 900, { now: OCT(2) });
    await l.close();
    expect(seen).toHaveLength(1);

    ({ l, seen } = await engine(p, `sqlite:${file}`));
    l.allow("bob", "chat", 50, { now: OCT(3) });
    await l.close();
    expect(seen).toHaveLength(0); // already triggered this period: no second notification

    const receiver = new WebhookReceiver();
    await receiver.start();
    const db = openDatabase(file);
    try {
      const report = await drainOutbox(
        new AlertStore(db),
        p.channels,
        { HOOK_URL: receiver.url },
        {
          attempts: 2,
          baseDelayMs: 5,
          maxDelayMs: 10,
          timeoutMs: 2_000,
        },
      );
      expect(report.delivered).toHaveLength(1);
      expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({
        alert: "chat-80",
        customer: "bob",
        entitlement: "chat",
      });
    } finally {
      db.close();
      await receiver.stop();
    }
  });
});

describe("deliverAlerts: the engine delivers its own notifications", () => {
  const FAST = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 2_000 };
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterEach(() => receiver.stop());

  const until = async (test: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!test() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };

  it("on the memory store a firing is sent as it happens, once, and counted in status()", async () => {
    const p = policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`);
    const l = await Limitr.open({
      policy: p,
      store: "memory",
      deliverAlerts: { env: { HOOK_URL: receiver.url }, retry: FAST, intervalMs: 50 },
    });
    try {
      l.allow("bob", "chat", 900);
      l.allow("bob", "chat", 50);
      await until(() => receiver.received.length > 0);
      expect(receiver.received.map((r) => JSON.parse(r.body).alert)).toEqual(["chat-80"]);
      await new Promise((r) => setTimeout(r, 200));
      expect(receiver.received).toHaveLength(1);
      expect(l.status().alertDelivery).toEqual({ pending: 0, delivered: 1, failed: 0, lastError: null });
    } finally {
      await l.close();
    }
  });

  it("a failing receiver is retried on the interval; what fires just before close() goes out in its last pass", async () => {
    const p = policy(`  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops] }`);
    receiver.failNext = Number.MAX_SAFE_INTEGER; // fails until the test lets it through
    const l = await Limitr.open({
      policy: p,
      store: "memory",
      deliverAlerts: { env: { HOOK_URL: receiver.url }, retry: FAST, intervalMs: 100 },
    });
    l.allow("bob", "chat", 900);
    await until(() => (l.status().alertDelivery?.failed ?? 0) > 0);
    expect(l.status().alertDelivery).toMatchObject({ pending: 1, delivered: 0 });
    expect(l.status().alertDelivery?.lastError).toMatch(/-> ops: HTTP 503/);
    expect(receiver.received).toHaveLength(0);
    receiver.failNext = 0; // the next pass on the interval gets through
    await until(() => receiver.received.length > 0);
    expect(receiver.received).toHaveLength(1);

    l.allow("carol", "chat", 950); // fires; close() evaluates and delivers before the store goes
    await l.close();
    expect(receiver.received.map((r) => JSON.parse(r.body).customer)).toEqual(["bob", "carol"]);
  });

  it("email channels without a sender stay queued with a reason, the rest is delivered", async () => {
    const p = compilePolicy({
      ...(parse(`
limitr: 1
name: mail
timezone: UTC
meters:
  tokens: { event: llm, aggregation: sum, property: tokens }
plans:
  pro: { default: true, entitlements: { chat: { meter: tokens, limit: 1000, mode: soft } } }
channels:
  ops: { type: webhook, url: "\${HOOK_URL}" }
  finance: { type: email, url: "smtp://127.0.0.1:9", to: [f@example.com] }
alerts:
  chat-80: { when: "usage_percent >= 80", entitlement: chat, channels: [ops, finance] }
`) as Record<string, unknown>),
    });
    const l = await Limitr.open({
      policy: p,
      store: "memory",
      deliverAlerts: { env: { HOOK_URL: receiver.url }, retry: FAST, intervalMs: 50 },
    });
    try {
      l.allow("bob", "chat", 900);
      await until(() => receiver.received.length > 0 && (l.status().alertDelivery?.failed ?? 0) > 0);
      expect(receiver.received).toHaveLength(1);
      expect(l.status().alertDelivery).toMatchObject({ pending: 1, delivered: 1 });
      expect(l.status().alertDelivery?.lastError).toMatch(/finance: .*no email sender/);
    } finally {
      l.closeSync();
    }
  });
});
