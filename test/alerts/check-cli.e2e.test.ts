import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitrInProcess, REPO } from "../cli/run-cli.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

/**
 * The example policy's alert rules over the example month of usage, through
 * the real CLI into real local receivers. Expected firings are derived from
 * `usage query` and `customers list`, not from the alert code.
 */
const SECRET = "whsec_example";

function cli(args: string[], env: Record<string, string>, db: string) {
  return limitrInProcess([...args, "--db", db], REPO, env);
}

interface FiredJson {
  id: string;
  kind: string;
  alert: string;
  customer: string;
  entitlement: string | null;
}

describe("limitr alerts check on the example month", () => {
  let dir: string;
  let db: string;
  const ops = new WebhookReceiver(SECRET);
  const slack = new WebhookReceiver(null);
  let env: Record<string, string>;
  let expectedPro80: string[];
  let expectedFreeChat: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "limitr-alerts-"));
    db = join(dir, "usage.db");
    await ops.start();
    await slack.start();
    env = {
      LIMITR_OPS_WEBHOOK_URL: ops.url,
      LIMITR_WEBHOOK_SECRET: SECRET,
      SLACK_BILLING_WEBHOOK: slack.url,
      LIMITR_SMTP_URL: "smtp://127.0.0.1:9",
    };
    expect((await cli(["usage", "import", "fixtures/usage/2026-10.ndjson.gz"], {}, db)).exitCode).toBe(0);
    expect(
      (await cli(["customers", "import", "fixtures/usage/2026-10.customers.csv"], {}, db)).exitCode,
    ).toBe(0);

    const usage = JSON.parse(
      (
        await cli(
          [
            "usage",
            "query",
            "--meter",
            "input_tokens",
            "--period",
            "2026-10",
            "--group-by",
            "customer",
            "--format",
            "json",
          ],
          {},
          db,
        )
      ).stdout,
    ) as { rows: { customer: string; value: string }[] };
    const plans = JSON.parse((await cli(["customers", "list", "--format", "json"], {}, db)).stdout) as {
      customers: { customer: string; plan: string }[];
    };
    const planOf = new Map(plans.customers.map((c) => [c.customer, c.plan]));
    // Limits from policies/plans.yaml and customers.yaml: pro 2,000,000 input tokens (globex 5,000,000 until 2026-12-31), free 100,000.
    const proLimit = (c: string) => (c === "globex" ? 5_000_000 : 2_000_000);
    expectedPro80 = usage.rows
      .filter((r) => planOf.get(r.customer) === "pro" && Number(r.value) >= 0.8 * proLimit(r.customer))
      .map((r) => r.customer)
      .sort();
    expectedFreeChat = usage.rows
      .filter((r) => planOf.get(r.customer) === "free" && Number(r.value) >= 100_000)
      .map((r) => r.customer)
      .sort();
  });

  afterAll(async () => {
    await ops.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a dry run lists what would fire and sends nothing", async () => {
    const run = await cli(
      ["alerts", "check", "--period", "2026-10", "--dry-run", "--format", "json"],
      env,
      db,
    );
    expect(run.exitCode).toBe(0);
    const fired = JSON.parse(run.stdout).fired as FiredJson[];
    expect(fired.length).toBeGreaterThan(0);
    expect(ops.received).toHaveLength(0);
    expect(slack.received).toHaveLength(0);
  });

  it("fires the rules the usage calls for and delivers them signed", async () => {
    const run = await cli(["alerts", "check", "--period", "2026-10", "--format", "json"], env, db);
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    const fired = JSON.parse(run.stdout).fired as FiredJson[];
    const firedFor = (alert: string, entitlement?: string) =>
      fired
        .filter((f) => f.alert === alert && (entitlement === undefined || f.entitlement === entitlement))
        .map((f) => f.customer)
        .sort();
    expect(expectedPro80.length).toBeGreaterThan(0);
    expect(firedFor("pro-chat-80")).toEqual(expectedPro80);
    expect(expectedFreeChat.length).toBeGreaterThan(0);
    expect(firedFor("free-exhausted", "chat_input")).toEqual(expectedFreeChat);

    // ops gets free-exhausted and heading-for-overage; slack gets pro-chat-80 and heading-for-overage.
    const toOps = fired.filter((f) => f.alert === "free-exhausted" || f.alert === "heading-for-overage");
    const toSlack = fired.filter((f) => f.alert === "pro-chat-80" || f.alert === "heading-for-overage");
    expect(ops.received).toHaveLength(toOps.length);
    expect(slack.received).toHaveLength(toSlack.length);
    expect(ops.received.every((r) => r.signatureValid === true)).toBe(true);
    const ids = ops.received.map((r) => r.headers["limitr-delivery-id"]);
    expect(new Set(ids).size).toBe(ids.length);
    const body = JSON.parse(ops.received[0]!.body);
    expect(body).toMatchObject({ event: "alert.triggered", figures: expect.any(Object) });
  });

  it("a second run sends nothing again: state is kept in the store", async () => {
    const before = ops.received.length + slack.received.length;
    const run = await cli(["alerts", "check", "--period", "2026-10", "--format", "json"], env, db);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).fired).toEqual([]);
    expect(ops.received.length + slack.received.length).toBe(before);
  });

  it("shows a rule's variables for one customer", async () => {
    const customer = expectedPro80[0]!;
    const run = await cli(
      ["alerts", "test", "pro-chat-80", "--customer", customer, "--period", "2026-10", "--format", "json"],
      env,
      db,
    );
    expect(run.exitCode).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.evaluations).toHaveLength(1);
    expect(out.evaluations[0].fires).toBe(true);
    expect(out.evaluations[0].variables.usage_percent).toBeGreaterThanOrEqual(80);
    const bad = await cli(["alerts", "test", "pro-chat-8", "--customer", customer], env, db);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toContain("did you mean pro-chat-80");
  });
});

describe("limitr alerts check while the receiver is down", () => {
  it("keeps notifications in the outbox, exits 1, and delivers them exactly once when the receiver is back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-alerts-down-"));
    const db = join(dir, "usage.db");
    const ops = new WebhookReceiver(SECRET);
    const slack = new WebhookReceiver(null);
    await ops.start();
    await slack.start();
    const env = {
      LIMITR_OPS_WEBHOOK_URL: ops.url,
      LIMITR_WEBHOOK_SECRET: SECRET,
      SLACK_BILLING_WEBHOOK: slack.url,
      LIMITR_SMTP_URL: "smtp://127.0.0.1:9",
    };
    const opsPort = ops.port();
    await ops.stop();
    try {
      await cli(["usage", "import", "fixtures/usage/2026-10.ndjson.gz"], {}, db);
      await cli(["customers", "import", "fixtures/usage/2026-10.customers.csv"], {}, db);
      const down = await cli(["alerts", "check", "--period", "2026-10", "--format", "json"], env, db);
      expect(down.exitCode).toBe(1);
      expect(down.stderr).toMatch(/failed; kept in the outbox/);
      const firedToOps = (JSON.parse(down.stdout).fired as FiredJson[]).filter((f) =>
        ["free-exhausted", "heading-for-overage"].includes(f.alert),
      ).length;
      expect(firedToOps).toBeGreaterThan(0);

      await ops.start(opsPort);
      const up = await cli(["alerts", "check", "--period", "2026-10", "--format", "json"], env, db);
      expect(up.exitCode).toBe(0);
      expect(JSON.parse(up.stdout).fired).toEqual([]);
      expect(ops.received).toHaveLength(firedToOps);
      const again = await cli(["alerts", "check", "--period", "2026-10"], env, db);
      expect(again.exitCode).toBe(0);
      expect(ops.received).toHaveLength(firedToOps);
    } finally {
      await ops.stop();
      await slack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("limitr alerts check text output", () => {
  it("says why each delivery failed: a missing environment variable, an HTTP status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-alerts-why-"));
    const db = join(dir, "usage.db");
    const ops = new WebhookReceiver(SECRET);
    await ops.start();
    // A permanent refusal (not retried within the run), so every ops delivery is attempted once.
    ops.failNext = 1_000;
    ops.failStatus = 410;
    // SLACK_BILLING_WEBHOOK is not set.
    const env = {
      LIMITR_OPS_WEBHOOK_URL: ops.url,
      LIMITR_WEBHOOK_SECRET: SECRET,
      LIMITR_SMTP_URL: "smtp://127.0.0.1:9",
    };
    try {
      await cli(["usage", "import", "fixtures/usage/2026-10.ndjson.gz"], {}, db);
      await cli(["customers", "import", "fixtures/usage/2026-10.customers.csv"], {}, db);
      const text = await cli(["alerts", "check", "--period", "2026-10"], env, db);
      expect(text.exitCode).toBe(1);
      const lines = text.stderr.split("\n");
      const head = /^(\d+) deliver(y|ies) failed; kept in the outbox for the next run:$/.exec(lines[0] ?? "");
      expect(head).not.toBeNull();
      const failures = lines.slice(1).filter((l) => l.startsWith("  "));
      // One line per failure, each with its reason.
      expect(failures).toHaveLength(Number(head?.[1]));
      expect(
        failures.some((l) =>
          /-> billing-slack: .*needs the environment variable SLACK_BILLING_WEBHOOK/.test(l),
        ),
      ).toBe(true);
      expect(failures.some((l) => /-> ops: HTTP 410 after 1 attempt$/.test(l))).toBe(true);
      for (const l of failures) expect(l).toMatch(/^ {2}\S+ for \S+.* -> [\w-]+: .+/);
      // The table says it too.
      expect(text.stdout).toMatch(/failed \(outbox\): ops: HTTP 410/);
    } finally {
      await ops.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
