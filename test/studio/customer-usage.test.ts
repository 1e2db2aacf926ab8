import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import { DateTime } from "luxon";
import { beforeAll, describe, expect, it } from "vitest";
import { customerUsage, invoicePreview } from "../../src/cli/studio/customer-usage.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitr, REPO } from "../cli/run-cli.js";
import { pgSchema } from "../helpers/pg-schema.js";

const ZONE = "America/New_York";
const at = (iso: string) => DateTime.fromISO(iso, { zone: ZONE }).toMillis();
const policy = loadValidPolicy(join(REPO, "policies"));

/** A few events in October 2026: a free customer's API calls on two days, GPU jobs in the acme account tree. */
function events(): string {
  const lines: object[] = [];
  const ev = (id: string, type: string, customer: string, timestamp: string, properties: object) =>
    lines.push({ id, type, customer, timestamp, properties });
  for (let i = 0; i < 3; i++) ev(`a${i}`, "api.request", "cust-free", "2026-10-31T12:00:00-04:00", {});
  for (let i = 0; i < 2; i++) ev(`b${i}`, "api.request", "cust-free", "2026-10-30T12:00:00-04:00", {});
  ev("t1", "llm.completion", "cust-free", "2026-10-05T12:00:00-04:00", {
    input_tokens: 60000,
    output_tokens: 10,
  });
  ev("g1", "gpu.job", "acme-holdings", "2026-10-10T12:00:00-04:00", { seconds: 1000, gpu: "a100" });
  ev("g2", "gpu.job", "acme-research", "2026-10-11T12:00:00-04:00", { seconds: 500, gpu: "a100" });
  return `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`;
}

describe("the studio's customers page", () => {
  let db: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-studio-customers-"));
    db = join(dir, "usage.db");
    writeFileSync(join(dir, "events.ndjson"), events());
    const imported = await limitr(["usage", "import", join(dir, "events.ndjson"), "--db", db]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const set = await limitr([
      "customers",
      "set",
      "cust-free",
      "--plan",
      "free",
      "--at",
      "2026-09-01",
      "--db",
      db,
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
  });

  it("measures each entitlement in its own period: a daily limit counts only that day", async () => {
    const answer = await customerUsage(policy, db, at("2026-10-31T23:00"));
    if (!answer.available) throw new Error(answer.reason);
    expect(answer.at).toBe("2026-10-31");
    const free = answer.customers.find((c) => c.id === "cust-free")!;
    expect(free.plan).toBe("free");
    const line = (id: string) => free.usage.find((u) => u.entitlement === id);
    expect(line("api")).toMatchObject({
      used: "3",
      limit: "1000",
      percent: 0.3,
      period: "day",
      mode: "hard",
    });
    expect(line("chat_input")).toMatchObject({
      used: "60000",
      limit: "100000",
      percent: 60,
      period: "month",
    });
    // A feature flag is not metered.
    expect(line("export_pdf")).toBeUndefined();
  });

  it("counts a shared pool for every customer it is charged to (scope: root)", async () => {
    const answer = await customerUsage(policy, db, at("2026-10-31T23:00"));
    if (!answer.available) throw new Error(answer.reason);
    const gpu = (id: string) =>
      answer.customers.find((c) => c.id === id)?.usage.find((u) => u.entitlement === "gpu");
    expect(gpu("acme-research")).toMatchObject({ owner: "acme-holdings", used: "1500", limit: null });
    expect(gpu("acme-holdings")).toMatchObject({ owner: "acme-holdings", used: "1500" });
  });

  it("reads an empty month as zero usage, and says when there is no store", async () => {
    const answer = await customerUsage(policy, db, at("2026-12-01T10:00"));
    if (!answer.available) throw new Error(answer.reason);
    const free = answer.customers.find((c) => c.id === "cust-free")!;
    expect(free.usage.every((u) => u.used === "0")).toBe(true);
    const none = await customerUsage(policy, join(tmpdir(), "no-such-limitr.db"), Date.now());
    expect(none).toMatchObject({ available: false });
    expect((none as { reason: string }).reason).toContain("no usage store at");
  });

  it("previews the month's invoice as `limitr bill` would rate it", async () => {
    const preview = await invoicePreview(policy, db, "cust-free", at("2026-10-20T10:00"));
    const bill = await limitr([
      "bill",
      "--period",
      "2026-10",
      "--customer",
      "cust-free",
      "--format",
      "json",
      "--db",
      db,
    ]);
    expect(preview.available).toBe(true);
    const billed = JSON.parse(bill.stdout).invoices[0];
    expect(preview).toMatchObject({
      period: "2026-10",
      invoice: { total: billed.total, lines: billed.lines },
    });
  });

  it("reads wallets from a Postgres store as the engine wrote them", async () => {
    const schema = pgSchema("limitr_studio");
    try {
      const now = at("2026-10-20T10:00");
      const engine = await Limitr.open({
        policy: join(REPO, "policies"),
        store: schema.url,
        exclusive: true,
        alerts: false,
        now: () => now,
      });
      engine.setPlan("wallet-co", "payg", { at: now });
      engine.topUp("wallet-co", "20", { id: "t-1", now });
      const balance = engine.balance("wallet-co", { now });
      await engine.close();
      const answer = await customerUsage(policy, schema.url, now);
      expect(answer.available).toBe(true);
      const row = answer.available ? answer.customers.find((c) => c.id === "wallet-co") : undefined;
      expect(row?.plan).toBe("payg");
      expect(row?.wallet).toMatchObject({
        unit: "USD",
        balance: balance.balance,
        available: balance.available,
      });
      expect(Number(row?.wallet?.balance)).toBeGreaterThanOrEqual(20);
    } finally {
      await schema.drop();
    }
  });
});
