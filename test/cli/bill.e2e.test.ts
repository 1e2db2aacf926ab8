import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";
import { BIN, limitr, REPO } from "./run-cli.js";

/**
 * `usage import -> bill` through the built CLI on a temp store, against the
 * example policy. Every expected amount is worked out by hand from the policy
 * text in the comments.
 */
let dir: string;
let db: string;
let policies: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-bill-"));
  db = join(dir, "usage.db");
  policies = join(dir, "policies");
  cpSync(join(REPO, "policies"), policies, { recursive: true });
});

const run = (...args: string[]) => limitr(["--db", db, "--policies", policies, ...args]);

const EVENTS = [
  // globex (pro; contract override: 5M included input tokens until 2026-12-31)
  {
    id: "g1",
    type: "llm.completion",
    customer: "globex",
    timestamp: "2026-10-05T10:00:00Z",
    properties: { model: "gpt-4o", input_tokens: 3_500_000, output_tokens: 350_000 },
  },
  {
    id: "g2",
    type: "llm.completion",
    customer: "globex",
    timestamp: "2026-10-06T10:00:00Z",
    properties: { model: "gpt-4o", input_tokens: 2_500_000, output_tokens: 250_000 },
  },
  {
    id: "g3",
    type: "gpu.job",
    customer: "globex",
    timestamp: "2026-10-07T10:00:00Z",
    properties: { gpu: "a100", seconds: 4000 },
  },
  // Recorded on Nov 1, 02:00 UTC = Oct 31, 22:00 in New York: still October.
  { id: "g4", type: "api.request", customer: "globex", timestamp: "2026-11-01T02:00:00Z" },
];

async function importEvents(): Promise<void> {
  const file = join(dir, "events.ndjson");
  writeFileSync(file, `${EVENTS.map((e) => JSON.stringify(e)).join("\n")}\n`);
  const r = await run("usage", "import", file);
  expect(r.exitCode).toBe(0);
}

describe("limitr bill", () => {
  it("rates the example policy exactly: overage, scopes, minimum, discounts, credits, proration", async () => {
    await importEvents();
    expect((await run("customers", "set", "cust-z", "--plan", "pro", "--at", "2026-06-01")).exitCode).toBe(0);
    expect(
      (await run("customers", "set", "cust-z", "--plan", "free", "--at", "2026-10-20T09:30")).exitCode,
    ).toBe(0);
    const r = await run("bill", "--period", "2026-10", "--format", "json");
    expect(r.exitCode).toBe(0);
    const bill = JSON.parse(r.stdout);
    expect(bill.formatVersion).toBe(1);
    expect(bill.currency).toBe("USD");
    expect(bill.period).toEqual({
      start: "2026-10-01T00:00:00.000-04:00",
      end: "2026-11-01T00:00:00.000-04:00",
    });
    const byCustomer = Object.fromEntries(bill.invoices.map((i: { customer: string }) => [i.customer, i]));
    expect(
      bill.invoices.map((i: { number: string; customer: string }) => `${i.number} ${i.customer}`),
    ).toEqual([
      "acme-ai-2026-10-0001 acme-holdings",
      "acme-ai-2026-10-0002 acme-research",
      "acme-ai-2026-10-0003 cust-z",
      "acme-ai-2026-10-0004 globex",
      "acme-ai-2026-10-0005 initech",
    ]);

    const g = byCustomer.globex;
    expect(Object.keys(g)).toEqual([
      "number",
      "customer",
      "plan",
      "currency",
      "lines",
      "subtotal",
      "discount",
      "credits_applied",
      "total",
      "cost",
      "margin_percent",
      "priced_by",
    ]);
    // `--policies` given: that directory priced the month.
    expect(bill.pricing).toMatchObject({ source: "policies", note: null });
    expect(g.priced_by).toEqual([
      {
        version: null,
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        from: "2026-10-01T00:00:00.000-04:00",
        to: "2026-11-01T00:00:00.000-04:00",
      },
    ]);
    const lines = g.lines.map(
      (l: { kind: string; entitlement: string | null; quantity: string | null; amount: string }) => [
        l.kind,
        l.entitlement,
        l.quantity,
        l.amount,
      ],
    );
    expect(lines).toEqual([
      ["subscription", null, null, "49.00"],
      ["usage", "api", "1", "0.00"], // entitlements in the compiled (sorted) order
      ["usage", "chat_input", "6000000", "3.00"], // 1,000,000 past the 5M override x 0.000003
      ["usage", "chat_output", "600000", "1.20"], // 100,000 past 500,000 x 0.000012
      ["usage", "gpu", "4000", "0.48"], // 400 past 3,600 x 0.0012
      ["credit", null, null, "-25.00"],
    ]);
    expect(Object.keys(g.lines[0])).toEqual([
      "kind",
      "description",
      "entitlement",
      "meter",
      "quantity",
      "unit_price",
      "amount",
    ]);
    // subtotal 53.68; cost = 6M x 0.0000025 + 600k x 0.00001 + 4000 x 0.0008 = 15 + 6 + 3.20 = 24.20
    expect([g.subtotal, g.discount, g.credits_applied, g.total, g.cost]).toEqual([
      "53.68",
      "0.00",
      "25.00",
      "28.68",
      "24.20",
    ]);
    expect(g.margin_percent).toBe("54.92"); // (53.68 - 24.20) / 53.68

    // Enterprise with no usage: fee 2000 + GPU tier-1 flat fee 250 (R10, at zero usage) -> true-up to 5000,
    // 5% off = 250, credit 500: 4250.
    const h = byCustomer["acme-holdings"];
    expect(h.lines.map((l: { kind: string; amount: string }) => [l.kind, l.amount])).toEqual([
      ["subscription", "2000.00"],
      ["usage", "250.00"],
      ["minimum", "2750.00"],
      ["discount", "-250.00"],
      ["credit", "-500.00"],
    ]);
    expect(h.total).toBe("4250.00");
    // The child's GPU pool is the root's (scope: root): no GPU flat fee on acme-research.
    expect(
      byCustomer["acme-research"].lines.map((l: { kind: string; amount: string }) => [l.kind, l.amount]),
    ).toEqual([
      ["subscription", "2000.00"],
      ["minimum", "3000.00"],
    ]);
    // R11 downgrade on Oct 20 (free from that day): unused 12/31 of 49 = 18.967.. -> -18.97.
    expect(
      byCustomer["cust-z"].lines.map((l: { kind: string; amount: string }) => [l.kind, l.amount]),
    ).toEqual([
      ["subscription", "49.00"],
      ["proration", "-18.97"],
    ]);
    expect(bill.totals.total).toBe("9357.71"); // 4250 + 5000 + 30.03 + 28.68 + 49
  });

  it("--customer keeps invoice numbers; --out writes one JSON per invoice and lines.csv; csv and text formats", async () => {
    await importEvents();
    const out = join(dir, "out");
    const r = await run(
      "bill",
      "--period",
      "2026-10",
      "--customer",
      "globex",
      "--format",
      "json",
      "--out",
      out,
    );
    const bill = JSON.parse(r.stdout);
    expect(bill.invoices.map((i: { number: string }) => i.number)).toEqual(["acme-ai-2026-10-0003"]);
    const file = join(out, "acme-ai-2026-10-0003.json");
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, "utf8")).total).toBe("28.68");
    const csv = readFileSync(join(out, "lines.csv"), "utf8").trim().split("\n");
    expect(csv[0]).toBe(
      "invoice,customer,plan,kind,description,entitlement,meter,quantity,unit_price,amount,cost,currency",
    );
    expect(csv).toHaveLength(1 + 6);
    const text = await run("bill", "--period", "2026-10", "--customer", "globex");
    expect(text.stdout).toContain("Invoice acme-ai-2026-10-0003  globex  plan pro");
    expect(text.stdout).toMatch(/TOTAL\s+1 invoices\s+53\.68\s+0\.00\s+25\.00\s+28\.68/);
  });

  it("R12 unused credit carries over to the next period and re-billing a period is idempotent", async () => {
    const customers = join(policies, "customers.yaml");
    writeFileSync(
      customers,
      readFileSync(customers, "utf8").replace("{ amount: 25, priority: 2", "{ amount: 100, priority: 2"),
    );
    await importEvents();
    const total = async (period: string) => {
      const r = await run("bill", "--period", period, "--customer", "globex", "--format", "json");
      expect(r.exitCode).toBe(0);
      const inv = JSON.parse(r.stdout).invoices[0];
      return [inv.credits_applied, inv.total];
    };
    expect(await total("2026-10")).toEqual(["53.68", "0.00"]);
    expect(await total("2026-10")).toEqual(["53.68", "0.00"]);
    // November: fee 49; 100 - 53.68 = 46.32 left.
    expect(await total("2026-11")).toEqual(["46.32", "2.68"]);
    expect(await total("2026-11")).toEqual(["46.32", "2.68"]);
  });

  it("the quick start: the example month imports and bills on a fresh store", async () => {
    expect((await run("usage", "import", join(REPO, "fixtures/usage/2026-10.ndjson.gz"))).stdout).toContain(
      "imported 100000 events",
    );
    expect(
      (await run("customers", "import", join(REPO, "fixtures/usage/2026-10.customers.csv"))).exitCode,
    ).toBe(0);
    const r = await run("bill", "--period", "2026-10", "--format", "json");
    expect(r.exitCode).toBe(0);
    const bill = JSON.parse(r.stdout);
    const cents = (s: string) => Math.round(Number(s) * 100);
    let sum = 0;
    for (const inv of bill.invoices) {
      const lines = inv.lines.reduce((a: number, l: { amount: string }) => a + cents(l.amount), 0);
      expect(lines).toBe(cents(inv.total)); // R9: the total is the sum of the rounded lines
      expect(cents(inv.total)).toBeGreaterThanOrEqual(0);
      sum += cents(inv.total);
    }
    expect(sum).toBe(cents(bill.totals.total));
    const fees = (customer: string) =>
      bill.invoices
        .find((i: { customer: string }) => i.customer === customer)
        .lines.filter((l: { kind: string }) => l.kind === "subscription" || l.kind === "proration")
        .map((l: { amount: string }) => l.amount);
    // From fixtures/usage/2026-10.customers.csv, Pro at 49/month, 14-day trial on a first Pro subscription:
    expect(fees("cust-004")).toEqual(["26.87"]); // Pro from Oct 1, trial to Oct 14: 17/31 x 49
    expect(fees("cust-031")).toEqual(["20.55"]); // new on Pro Oct 5, trial to Oct 18: 13/31 x 49
    expect(fees("cust-003")).toEqual(["49.00", "-18.97"]); // Pro -> Free on Oct 20: unused 12/31
    expect(fees("cust-006")).toEqual(["49.00", "-36.35", "14.23"]); // Free Oct 9-22 (23/31 back), Pro again Oct 23 (9/31)
  });

  it("the parallel scan (day ranges in worker threads) bills exactly what one thread bills", async () => {
    await run("usage", "import", join(REPO, "fixtures/usage/2026-10.ndjson.gz"));
    await run("customers", "import", join(REPO, "fixtures/usage/2026-10.customers.csv"));
    const args = ["--db", db, "--policies", policies, "bill", "--period", "2026-10", "--format", "json"];
    const env = (min: string) => ({ NO_COLOR: "1", LIMITR_PARALLEL_MIN_ROWS: min });
    const one = await execa(process.execPath, [BIN, ...args], { cwd: REPO, env: env("1000000000") });
    const many = await execa(process.execPath, [BIN, ...args], { cwd: REPO, env: env("1") });
    expect(JSON.parse(many.stdout)).toEqual(JSON.parse(one.stdout));
  });

  it("usage errors exit 64", async () => {
    expect((await run("bill")).exitCode).toBe(64);
    expect((await run("bill", "--period", "2026-13")).exitCode).toBe(64);
    expect((await run("bill", "--period", "2026-10", "--from", "2026-10-01")).exitCode).toBe(64);
  });
});
