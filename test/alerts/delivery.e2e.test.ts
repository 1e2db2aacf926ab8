import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { SMTPServer } from "smtp-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sendEmail } from "../../src/cli/adapters/alerts/email.js";
import type { AlertNotification, RetryPolicy } from "../../src/engine/adapters/alerts/delivery.js";
import { backoffDelay, withRetries } from "../../src/engine/adapters/alerts/delivery.js";
import { drainOutbox, sendTo } from "../../src/engine/adapters/alerts/dispatch.js";
import { AlertStore } from "../../src/engine/adapters/alerts/outbox.js";
import { signPayload, verifySignature } from "../../src/engine/adapters/alerts/signature.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import type { CompiledChannel } from "../../src/engine/core/model.js";
import { REPO } from "../cli/run-cli.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

const FAST: RetryPolicy = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 2_000 };

const note = (id = "n1"): AlertNotification => ({
  id,
  event: "alert.triggered",
  alert: "pro-chat-80",
  customer: "globex",
  plan: "pro",
  entitlement: "chat_input",
  period: { start: "2026-10-01T00:00:00.000-04:00", end: "2026-11-01T00:00:00.000-04:00" },
  figures: { usage: 1_700_000, limit: 2_000_000, usage_percent: 85 },
  createdAt: "2026-10-20T12:00:00.000Z",
  version: 1,
  digest: "abc",
});

const webhook = (url: string, secret: string | null = "${HOOK_SECRET}"): CompiledChannel => ({
  id: "ops",
  type: "webhook",
  url,
  secret,
  to: [],
});

describe("webhook signatures", () => {
  it("verifies what it signs and rejects a changed body, a wrong secret or a stale timestamp", () => {
    const header = signPayload("s3cret", '{"a":1}', 1_700_000_000);
    expect(verifySignature("s3cret", '{"a":1}', header, 1_700_000_010)).toBe(true);
    expect(verifySignature("s3cret", '{"a":2}', header, 1_700_000_010)).toBe(false);
    expect(verifySignature("other", '{"a":1}', header, 1_700_000_010)).toBe(false);
    expect(verifySignature("s3cret", '{"a":1}', header, 1_700_001_000)).toBe(false);
  });
  it("backs off exponentially with jitter inside the cap", () => {
    const p = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, timeoutMs: 1 };
    expect(backoffDelay(1, p, () => 0.999)).toBe(199);
    expect(backoffDelay(3, p, () => 0.999)).toBe(799);
    expect(backoffDelay(8, p, () => 0.999)).toBe(999);
    expect(backoffDelay(3, p, () => 0)).toBe(0);
  });
});

describe("delivery to real local receivers", () => {
  const receiver = new WebhookReceiver("whsec_test");
  const env = { HOOK_SECRET: "whsec_test" };
  beforeEach(async () => {
    receiver.received.length = 0;
    receiver.failNext = 0;
    receiver.failStatus = 503;
    await receiver.start();
  });
  afterEach(async () => receiver.stop());

  it("posts a signed JSON webhook with a delivery id", async () => {
    const res = await sendTo(webhook(receiver.url), note(), env, 2_000);
    expect(res.ok).toBe(true);
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.signatureValid).toBe(true);
    expect(got.headers["limitr-delivery-id"]).toBe("n1");
    expect(JSON.parse(got.body)).toMatchObject({ alert: "pro-chat-80", customer: "globex" });
  });

  it("retries a failing receiver and succeeds once it answers", async () => {
    receiver.failNext = 2;
    const res = await withRetries(() => sendTo(webhook(receiver.url), note(), env, 2_000), FAST);
    expect(res).toMatchObject({ ok: true, attempts: 3 });
    expect(receiver.received).toHaveLength(1);
  });

  it("does not retry a 4xx answer", async () => {
    receiver.failNext = 5;
    receiver.failStatus = 400;
    const res = await withRetries(() => sendTo(webhook(receiver.url), note(), env, 2_000), FAST);
    expect(res).toMatchObject({ ok: false, attempts: 1, retryable: false });
  });

  it("sends a Slack message naming the customer and the rule", async () => {
    const slack: CompiledChannel = { id: "s", type: "slack", url: receiver.url, secret: null, to: [] };
    expect((await sendTo(slack, note(), {}, 2_000)).ok).toBe(true);
    const body = JSON.parse(receiver.received[0]!.body);
    expect(body.text).toContain("globex");
    expect(body.text).toContain("pro-chat-80");
    expect(JSON.stringify(body.blocks)).toContain("usage_percent");
  });

  it("names the missing environment variable of a secret", async () => {
    await expect(sendTo(webhook(receiver.url), note(), {}, 2_000)).rejects.toThrow(/HOOK_SECRET/);
  });
});

describe("email over SMTP", () => {
  let server: SMTPServer;
  const mails: { from: string; to: string[]; data: string }[] = [];
  let port = 0;
  beforeEach(async () => {
    mails.length = 0;
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      onAuth: (auth, _session, cb) =>
        auth.username === "alerts" && auth.password === "pw"
          ? cb(null, { user: "alerts" })
          : cb(new Error("bad auth")),
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString("utf8"),
          });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.server.address() as { port: number }).port;
  });
  afterEach(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  it("delivers to every recipient with credentials from the environment", async () => {
    const ch: CompiledChannel = {
      id: "finance",
      type: "email",
      url: `smtp://alerts:\${SMTP_PASSWORD}@127.0.0.1:${port}?from=alerts@acme-ai.example`,
      secret: null,
      to: ["finance@acme-ai.example", "cfo@acme-ai.example"],
    };
    const res = await sendTo(ch, note(), { SMTP_PASSWORD: "pw" }, 5_000, { email: sendEmail });
    expect(res.ok).toBe(true);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(["finance@acme-ai.example", "cfo@acme-ai.example"]);
    expect(mails[0]!.from).toBe("alerts@acme-ai.example");
    expect(mails[0]!.data).toContain("pro-chat-80");
    expect(mails[0]!.data).toContain("usage_percent: 85");
  });

  it("without an email sender (an engine on its own) the delivery fails, retryable, naming what is missing", async () => {
    const ch: CompiledChannel = {
      id: "finance",
      type: "email",
      url: `smtp://127.0.0.1:${port}`,
      secret: null,
      to: ["finance@acme-ai.example"],
    };
    const res = await sendTo(ch, note(), {}, 5_000);
    expect(res).toMatchObject({ ok: false, retryable: true });
    expect(res.error).toMatch(/no email sender.*deliverAlerts\.email/);
    expect(mails).toHaveLength(0);
  });
});

describe("the outbox survives a receiver outage", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-outbox-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps a notification while the receiver is down and delivers it exactly once when it is back", async () => {
    const dbPath = join(dir, "usage.db");
    const receiver = new WebhookReceiver("whsec_test");
    await receiver.start();
    const port = receiver.port();
    await receiver.stop(); // down: connection refused
    const channels = { ops: webhook(`http://127.0.0.1:${port}/hook`) };
    const env = { HOOK_SECRET: "whsec_test" };
    const key = { alert: "pro-chat-80", customer: "globex", entitlement: "chat_input", periodStart: 1 };

    let db = openDatabase(dbPath, { create: true });
    let store = new AlertStore(db);
    store.record(key, "triggered", note("n-outage"), ["ops"], 1_000);
    const first = await drainOutbox(store, channels, env, FAST);
    expect(first.delivered).toHaveLength(0);
    expect(first.failed).toHaveLength(1);
    db.close();

    // A restart: the state is remembered (no second firing) and the notification is still pending.
    db = openDatabase(dbPath);
    store = new AlertStore(db);
    expect(store.state(key)).toBe("triggered");
    await receiver.start(port);
    const second = await drainOutbox(store, channels, env, FAST);
    expect(second.delivered.map((d) => d.id)).toEqual(["n-outage"]);
    const third = await drainOutbox(store, channels, env, FAST);
    expect(third.delivered).toHaveLength(0);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.signatureValid).toBe(true);
    await receiver.stop();
    db.close();
  });
});

describe("a run killed while delivering (at-least-once)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-outbox-kill-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a delivery recorded as attempted but never confirmed is reported and sent again by the next run", async () => {
    const dbPath = join(dir, "usage.db");
    // A Slack endpoint that receives the message and never answers: the sender is killed mid-send.
    const got: string[] = [];
    const hanging = createServer((req) => {
      req.resume();
      req.on("end", () => got.push(req.url ?? ""));
    });
    await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/slack`;
    const db = openDatabase(dbPath, { create: true });
    new AlertStore(db).record(
      { alert: "pro-chat-80", customer: "globex", entitlement: "chat_input", periodStart: 1 },
      "triggered",
      note("n-killed"),
      ["billing-slack"],
      1_000,
    );
    db.close();

    // The delivering process: the built library, draining the outbox of the same store file.
    const dist = (f: string) => pathToFileURL(join(REPO, "src", f)).href;
    const script = `
      const { openDatabase } = await import(${JSON.stringify(dist("engine/dist/adapters/store/database.js"))});
      const { AlertStore } = await import(${JSON.stringify(dist("engine/dist/adapters/alerts/outbox.js"))});
      const { drainOutbox } = await import(${JSON.stringify(dist("engine/dist/adapters/alerts/dispatch.js"))});
      const db = openDatabase(${JSON.stringify(dbPath)});
      const channels = { "billing-slack": { id: "billing-slack", type: "slack", url: ${JSON.stringify(url)}, secret: null, to: [] } };
      await drainOutbox(new AlertStore(db), channels, {}, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 60000 });
    `;
    const child = execa(process.execPath, ["--input-type=module", "-e", script], { reject: false });
    const deadline = Date.now() + 20_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1);
    child.kill("SIGKILL");
    await child;
    hanging.closeAllConnections();
    await new Promise<void>((r) => hanging.close(() => r()));

    const slack = new WebhookReceiver(null);
    await slack.start();
    const again = openDatabase(dbPath);
    try {
      const channels = {
        "billing-slack": { ...webhook(slack.url, null), id: "billing-slack", type: "slack" as const },
      };
      const report = await drainOutbox(new AlertStore(again), channels, {}, FAST);
      expect(report.unconfirmed).toEqual([
        { id: "n-killed", channel: "billing-slack", since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
      ]);
      expect(report.delivered.map((d) => d.id)).toEqual(["n-killed"]);
      // Sent again: the receiver may now show it twice (Slack has no id to deduplicate on).
      expect(slack.received).toHaveLength(1);
      // Confirmed now: a further run reports and sends nothing.
      const after = await drainOutbox(new AlertStore(again), channels, {}, FAST);
      expect(after.unconfirmed).toEqual([]);
      expect(after.delivered).toEqual([]);
    } finally {
      again.close();
      await slack.stop();
    }
  });
});
