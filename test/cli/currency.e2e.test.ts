import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pgSchema } from "../helpers/pg-schema.js";
import { StripeStandIn } from "../helpers/stripe-stand-in.js";
import { limitrInProcess, REPO } from "./run-cli.js";

/**
 * Multi-currency through the CLI, in a temp git repo holding the JPY billing
 * fixture (a USD plan with JPY and KWD price lists; tanaka invoiced in JPY by
 * contract, smith in USD): `customers set --currency`, `bill` (text, JSON,
 * Stripe through the local stand-in), `validate`, `diff` and `simulate`.
 */
const FIXTURE = join(REPO, "fixtures", "billing", "currency-jpy-zero-decimals");
let dir: string;
const policyFile = () => join(dir, "policies", "policy.yaml");

function git(...args: string[]): string {
  return execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();
}

function commit(message: string): string {
  git("add", "-A");
  git("commit", "-q", "-m", message);
  return git("rev-parse", "HEAD");
}

function cli(args: string[], env: Record<string, string> = {}) {
  return limitrInProcess(["--db", "usage.db", ...args], dir, env);
}

function edit(from: string, to: string): void {
  const text = readFileSync(policyFile(), "utf8");
  expect(text.includes(from), `policy contains ${from}`).toBe(true);
  writeFileSync(policyFile(), text.replace(from, to));
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-currency-"));
  mkdirSync(join(dir, "policies"));
  cpSync(join(FIXTURE, "policy.yaml"), policyFile());
  cpSync(join(FIXTURE, "events.ndjson"), join(dir, "events.ndjson"));
  git("init", "-q", "-b", "main");
  git("config", "user.email", "test@example.com");
  git("config", "user.name", "Test");
  git("config", "commit.gpgsign", "false");
  writeFileSync(join(dir, ".gitignore"), "*.db*\n*.ndjson\n");
  commit("base");
  const imported = await cli(["usage", "import", "events.ndjson"]);
  expect(imported.exitCode, imported.stderr).toBe(0);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("customers set --currency", () => {
  it("records a self-serve customer's currency; a plan without prices in it or a code that is not ISO 4217 is refused", async () => {
    const set = await cli([
      "customers",
      "set",
      "alsabah",
      "--plan",
      "pro",
      "--currency",
      "kwd",
      "--at",
      "2026-10-01",
      "--format",
      "json",
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ customer: "alsabah", plan: "pro", currency: "KWD" });

    const eur = await cli(["customers", "set", "dupont", "--plan", "pro", "--currency", "EUR"]);
    expect(eur.exitCode).toBe(64);
    expect(eur.stderr).toContain(
      "dupont is invoiced in EUR but plan pro has no EUR prices (it has USD, JPY, KWD): add plans.pro.currencies.EUR to the policy",
    );
    const bad = await cli(["customers", "set", "dupont", "--currency", "USX"]);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toContain("--currency: USX is not an ISO 4217 currency code");

    const list = JSON.parse((await cli(["customers", "list", "--format", "json"])).stdout) as {
      customers: { customer: string; currency: string }[];
    };
    expect(list.customers.map((c) => [c.customer, c.currency])).toEqual([
      ["alsabah", "KWD"],
      ["smith", "USD"],
      ["tanaka", "JPY"],
    ]);
  });

  it("customers import takes an optional currency column; a bad cell names its line and nothing is imported", async () => {
    writeFileSync(
      join(dir, "customers.csv"),
      "customer,plan,at,currency\nsato,pro,2026-10-01,jpy\ndupont,pro,2026-10-01,EUR\nmuller,pro,2026-10-01,EUX\n",
    );
    const bad = await cli(["customers", "import", "customers.csv"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(
      "customers.csv:3: plan pro has no EUR prices (add plans.pro.currencies.EUR)",
    );
    expect(bad.stderr).toContain('customers.csv:4: currency "EUX" is not an ISO 4217 code');
    writeFileSync(
      join(dir, "customers.csv"),
      "customer,plan,at,currency\nsato,pro,2026-10-01,jpy\nlee,pro,2026-10-01,\n",
    );
    const ok = await cli(["customers", "import", "customers.csv"]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const list = JSON.parse((await cli(["customers", "list", "--format", "json"])).stdout) as {
      customers: { customer: string; currency: string }[];
    };
    expect(list.customers.map((c) => [c.customer, c.currency])).toEqual([
      ["lee", "USD"],
      ["sato", "JPY"],
      ["smith", "USD"],
      ["tanaka", "JPY"],
    ]);
  });
});

describe("the Postgres store keeps customer currencies too", () => {
  const schema = pgSchema("limitr_currency");
  afterEach(() => schema.drop());

  it("customers set --currency, customers list and bill on --db postgres://", async () => {
    const pg = (args: string[]) => limitrInProcess(["--db", schema.url, ...args], dir);
    const imported = await pg(["usage", "import", "events.ndjson"]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const set = await pg([
      "customers",
      "set",
      "alsabah",
      "--plan",
      "pro",
      "--currency",
      "KWD",
      "--at",
      "2026-10-01",
    ]);
    expect(set.exitCode, set.stderr).toBe(0);
    const list = JSON.parse((await pg(["customers", "list", "--format", "json"])).stdout) as {
      customers: { customer: string; currency: string }[];
    };
    expect(list.customers.find((c) => c.customer === "alsabah")?.currency).toBe("KWD");
    const bill = JSON.parse((await pg(["bill", "--period", "2026-10", "--format", "json"])).stdout);
    expect(
      bill.invoices.map((i: { customer: string; currency: string; total: string }) => [
        i.customer,
        i.currency,
        i.total,
      ]),
    ).toEqual([
      ["alsabah", "KWD", "15.000"],
      ["smith", "USD", "55.15"],
      ["tanaka", "JPY", "9252"],
    ]);
  });
});

describe("bill in the customer's currency", () => {
  let stand: StripeStandIn;
  beforeEach(async () => {
    stand = new StripeStandIn();
    await stand.start();
  });
  afterEach(async () => {
    await stand.stop();
  });

  it("R9 invoices and Stripe items in JPY (0 decimals), KWD (3) and USD (2); totals per currency, never summed", async () => {
    for (const [id, extra] of [
      ["alsabah", ["--plan", "pro", "--currency", "KWD", "--at", "2026-10-01"]],
      ["tanaka", []],
      ["smith", []],
    ] as const) {
      const r = await cli(["customers", "set", id, ...extra, "--stripe-customer", `cus_${id}`]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const json = await cli(["bill", "--period", "2026-10", "--format", "json", "--stripe"], stand.env());
    expect(json.exitCode, json.stderr).toBe(0);
    const bill = JSON.parse(json.stdout);
    expect(
      bill.invoices.map((i: { customer: string; currency: string; total: string }) => [
        i.customer,
        i.currency,
        i.total,
      ]),
    ).toEqual([
      ["alsabah", "KWD", "15.000"],
      ["smith", "USD", "55.15"],
      ["tanaka", "JPY", "9252"],
    ]);
    expect(bill.totals.total).toBe("55.15");
    expect(Object.keys(bill.totals_by_currency)).toEqual(["USD", "JPY", "KWD"]);
    expect(bill.totals_by_currency.JPY).toMatchObject({ invoices: 1, total: "9252", margin_percent: null });
    expect(bill.totals_by_currency.KWD).toMatchObject({ invoices: 1, total: "15.000" });

    // Stripe: each draft invoice in its currency, items in that currency's minor units.
    expect(stand.itemAmounts("cus_tanaka")).toEqual([[7400, 1852]]);
    expect(stand.itemAmounts("cus_alsabah")).toEqual([[15000]]);
    expect(stand.itemAmounts("cus_smith")).toEqual([[4900, 615]]);
    const currencies = Object.fromEntries([...stand.invoices.values()].map((i) => [i.customer, i.currency]));
    expect(currencies).toEqual({ cus_tanaka: "jpy", cus_alsabah: "kwd", cus_smith: "usd" });

    const text = await cli(["bill", "--period", "2026-10"]);
    expect(text.stdout).toContain(
      "Invoice conformance-2026-10-0003  tanaka  plan pro  2026-10-01 to 2026-10-31  JPY",
    );
    expect(text.stdout).toMatch(/^TOTAL\s+1 invoices\s+USD\s+55\.15\s/m);
    expect(text.stdout).toMatch(/^TOTAL\s+1 invoices\s+JPY\s+9252\s/m);
    expect(text.stdout).toMatch(/^TOTAL\s+1 invoices\s+KWD\s+15\.000\s/m);
  });
});

describe("validate, diff and simulate", () => {
  it("a contract in a currency its plan has no price list for fails validation at its line", async () => {
    appendFileSync(policyFile(), "  dupont: { plan: pro, currency: EUR }\n");
    const r = await cli(["validate"]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout + r.stderr).toMatch(
      /policies\/policy\.yaml:28:\d+.*customers\.dupont is invoiced in EUR but plans\.pro has no EUR price list/,
    );
  });

  it("diff flags a raised JPY price as breaking; simulate reports each currency's totals and trips --fail-on per currency", async () => {
    const base = git("rev-parse", "HEAD");
    edit("api: { overage: 1.85 }", "api: { overage: 2.10 }");
    const head = commit("raise the JPY overage");
    const diff = await cli(["diff", base, head, "--format", "json"]);
    const changes = JSON.parse(diff.stdout).changes as { path: string; breaking: boolean; reason: string }[];
    expect(changes).toEqual([
      expect.objectContaining({
        path: "plans.pro.currencies.JPY.entitlements.api.tiers[1].unitPrice",
        breaking: true,
        reason: "JPY overage price raised",
      }),
    ]);

    const sim = await cli([
      "simulate",
      "--base",
      base,
      "--head",
      head,
      "--period",
      "2026-10",
      "--format",
      "json",
      "--fail-on",
      "revenue_change_pct > 2",
    ]);
    // 1,001 calls past the limit x 2.10 = 2,102.1 -> 2,102 yen (was 1,852): +250 of 9,252 = +2.70%.
    expect(sim.exitCode, sim.stderr).toBe(4);
    const report = JSON.parse(sim.stdout);
    expect(report.totals).toMatchObject({
      base_revenue: "55.15",
      head_revenue: "55.15",
      revenue_change: "0.00",
    });
    expect(report.totals_by_currency.JPY).toMatchObject({
      base_revenue: "9252",
      head_revenue: "9502",
      revenue_change: "250",
      revenue_change_pct: 2.7,
      base_cost: null,
      customers: 1,
      customers_affected: 1,
    });
    expect(report.guardrail).toMatchObject({ tripped: true, conditions: ["revenue_change_pct > 2 (JPY)"] });
    expect(
      report.customers.map((c: { customer: string; currency: string }) => [c.customer, c.currency]),
    ).toEqual([
      ["smith", "USD"],
      ["tanaka", "JPY"],
    ]);
    const text = await cli(["simulate", "--base", base, "--head", head, "--period", "2026-10"]);
    expect(text.stdout).toContain("JPY: revenue 9252 -> 9502 (+250, +2.70%), 1 customers, 1 affected");
  });
});
