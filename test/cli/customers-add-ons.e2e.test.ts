import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { limitr } from "./run-cli.js";

/**
 * Add-ons (SPEC §15) through the public CLI and library: `customers set
 * --add-on/--remove-add-on` records them in the store's plan history, a
 * running engine decides with the stacked limits, `bill` invoices the add-on
 * fee prorated (R11) and rates usage under the stack, `simulate` re-rates it.
 */
const POLICY = `limitr: 1
name: acme
currency: USD
timezone: UTC
meters:
  tokens: { event: llm.completion, aggregation: sum, property: tokens }
plans:
  pro:
    name: Pro
    price: 30
    entitlements:
      chat: { meter: tokens, limit: 1000, mode: hard }
  extra:
    name: Extra tokens
    add_on: true
    price: 10
    entitlements:
      chat: { meter: tokens, limit: 500 }
  gpu:
    add_on: true
    price: 20
    entitlements:
      gpu: { meter: tokens, limit: 5 }
`;

let dir: string;
const engines: Limitr[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-add-ons-"));
  mkdirSync(join(dir, "policies"));
  writeFileSync(join(dir, "policies", "policy.yaml"), POLICY);
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => limitr([...args, "--db", "usage.db"], dir);
const json = async (...args: string[]) => {
  const r = await run(...args, "--format", "json");
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("§15 add-ons through limitr customers set", () => {
  it("adds and removes add-ons relative to what the store holds; list shows them at --at", async () => {
    expect((await run("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-01")).exitCode).toBe(0);
    expect(
      await json("customers", "set", "c1", "--add-on", "extra", "--add-on", "gpu", "--at", "2026-10-16"),
    ).toEqual({
      formatVersion: 1,
      customer: "c1",
      plan: "pro",
      addOns: ["extra", "gpu"],
      currency: null,
      at: "2026-10-16T00:00:00.000Z",
    });
    const removed = await run("customers", "set", "c1", "--remove-add-on", "gpu", "--at", "2026-10-21");
    expect(removed.stdout).toBe("c1: pro + extra from 2026-10-21T00:00:00.000Z");
    const at = async (when: string) =>
      (await json("customers", "list", "--at", when)).customers.find(
        (c: { customer: string }) => c.customer === "c1",
      );
    expect((await at("2026-10-10")).addOns).toEqual([]);
    expect((await at("2026-10-18")).addOns).toEqual(["extra", "gpu"]);
    expect(await at("2026-10-25")).toMatchObject({ plan: "pro", addOns: ["extra"], changes: 3 });
    // --plan alone keeps the add-ons held.
    await run("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-28");
    expect((await at("2026-10-29")).addOns).toEqual(["extra"]);
  });

  it("customers import reads an add_ons column (ids separated by ;) and refuses a row holding a base plan as an add-on", async () => {
    writeFileSync(
      join(dir, "plans.csv"),
      "customer,plan,at,add_ons\nc1,pro,2026-10-01,gpu;extra\nc2,pro,2026-10-01,\n",
    );
    expect(await json("customers", "import", "plans.csv")).toEqual({
      formatVersion: 1,
      rows: 2,
      customers: 2,
    });
    const list = (await json("customers", "list", "--at", "2026-10-02")).customers;
    expect(list.map((c: { customer: string; addOns: string[] }) => [c.customer, c.addOns])).toEqual([
      ["c1", ["extra", "gpu"]],
      ["c2", []],
    ]);
    writeFileSync(join(dir, "bad.csv"), "customer,plan,at,add_ons\nc3,pro,2026-10-01,pro\n");
    const bad = await run("customers", "import", "bad.csv");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(`bad.csv:2: plan "pro" is not an add-on`);
  });

  it("refuses what cannot be held, as usage errors (exit 64) that say why", async () => {
    const cases: [string[], string][] = [
      [["--plan", "extra"], `"extra" is an add-on, not a plan`],
      [["--plan", "pro", "--add-on", "pro"], `plan "pro" is not an add-on (add-ons: extra, gpu)`],
      [["--plan", "pro", "--add-on", "extar"], `unknown add-on "extar"`],
      [["--add-on", "extra"], "c9 has no plan in the store"],
      [["--plan", "pro", "--remove-add-on", "gpu"], `c9 does not hold add-on "gpu"`],
      [["--plan", "pro", "--add-on", "gpu", "--remove-add-on", "gpu"], "contradict"],
    ];
    for (const [flags, message] of cases) {
      const r = await run("customers", "set", "c9", ...flags);
      expect(r.exitCode, flags.join(" ")).toBe(64);
      expect(r.stderr).toContain(message);
    }
    expect((await json("customers", "list")).customers).toEqual([]);
  });

  it("a running engine picks up add-on changes from the store and decides with the stacked limit", async () => {
    await run("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-01");
    let now = Date.parse("2026-10-20T12:00:00Z");
    const engine = await Limitr.open({
      policy: join(dir, "policies"),
      store: `sqlite:${join(dir, "usage.db")}`,
      planPollMs: 50,
      now: () => now,
    });
    engines.push(engine);
    expect(engine.decide("c1", "chat", 1000)).toMatchObject({ allowed: true, limit: 1000 });
    expect(engine.check("c1", "chat", 1)).toMatchObject({ allowed: false, reason: "limit_exceeded" });
    expect(engine.check("c1", "gpu", 1).reason).toBe("not_entitled");

    await run(
      "customers",
      "set",
      "c1",
      "--add-on",
      "extra",
      "--add-on",
      "gpu",
      "--at",
      "2026-10-20T00:00:00Z",
    );
    await until(() => engine.usage("c1", "chat").limit === 1500);
    expect(engine.decide("c1", "chat", 500)).toMatchObject({ allowed: true, used: 1500, remaining: 0 });
    expect(engine.decide("c1", "gpu", 5)).toMatchObject({ allowed: true, limit: 5 });

    await run("customers", "set", "c1", "--remove-add-on", "extra", "--at", "2026-10-20T06:00:00Z");
    await until(() => engine.usage("c1", "chat").limit === 1000);
    expect(engine.check("c1", "chat", 1)).toMatchObject({ allowed: false, reason: "limit_exceeded" });
    // setPlan through the library: the add-on set given is the whole set held from then on.
    now = Date.parse("2026-10-20T13:00:00Z");
    engine.setPlan("c1", "pro", { addOns: ["extra"] });
    expect(engine.usage("c1", "chat").limit).toBe(1500);
    expect(engine.check("c1", "gpu", 1).reason).toBe("not_entitled");
    expect(() => engine.setPlan("c1", "extra")).toThrow(/is an add-on/);
    expect(() => engine.setPlan("c1", "pro", { addOns: ["pro"] })).toThrow(/is not an add-on/);
  });

  it("bill invoices the add-on fee prorated from the day it was added; simulate re-rates a changed add-on fee", async () => {
    writeFileSync(
      join(dir, "events.ndjson"),
      [
        {
          id: "e1",
          type: "llm.completion",
          customer: "c1",
          timestamp: "2026-10-05T10:00:00Z",
          properties: { tokens: 900 },
        },
        {
          id: "e2",
          type: "llm.completion",
          customer: "c1",
          timestamp: "2026-10-25T10:00:00Z",
          properties: { tokens: 400 },
        },
      ]
        .map((e) => JSON.stringify(e))
        .join("\n"),
    );
    expect((await run("usage", "import", "events.ndjson")).exitCode).toBe(0);
    await run("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-01");
    await run("customers", "set", "c1", "--add-on", "extra", "--at", "2026-10-16");
    const bill = await json("bill", "--period", "2026-10");
    const [invoice] = bill.invoices;
    expect(
      invoice.lines.map((l: { kind: string; description: string; amount: string }) => [l.kind, l.amount]),
    ).toEqual([
      ["subscription", "30.00"],
      ["proration", "5.16"],
    ]);
    expect(invoice.lines[1].description).toBe(
      "Add-on Extra tokens monthly fee, 16/31 days (2026-10-16 to 2026-10-31, from add-on start)",
    );
    expect(invoice.total).toBe("35.16");

    // A git repo whose committed policy is the base; the work tree raises the add-on fee to 20.
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd: dir });
    git("init", "-q");
    git("add", "policies");
    git("commit", "-qm", "base");
    const file = join(dir, "policies", "policy.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("price: 10", "price: 20"));
    const sim = await json("simulate", "--base", "HEAD", "--period", "2026-10");
    const c1 = sim.customers.find((c: { customer: string }) => c.customer === "c1");
    expect(c1).toMatchObject({ base_revenue: "35.16", head_revenue: "40.32", revenue_change: "5.16" });
  });

  it("the Postgres store records, lists and bills add-ons as the SQLite store does", async () => {
    const schema = pgSchema();
    try {
      const answers = [];
      for (const db of ["usage.db", schema.url]) {
        const on = (...args: string[]) => limitr([...args, "--db", db], dir);
        expect((await on("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-01")).exitCode).toBe(0);
        const set = await on(
          "customers",
          "set",
          "c1",
          "--add-on",
          "gpu",
          "--add-on",
          "extra",
          "--at",
          "2026-10-11",
        );
        expect(set.exitCode, set.stderr).toBe(0);
        await on("customers", "set", "c1", "--remove-add-on", "gpu", "--at", "2026-10-21");
        const list = JSON.parse(
          (await on("customers", "list", "--at", "2026-10-15", "--format", "json")).stdout,
        );
        const bill = JSON.parse((await on("bill", "--period", "2026-10", "--format", "json")).stdout);
        answers.push({ list: list.customers, lines: bill.invoices[0].lines, total: bill.invoices[0].total });
      }
      expect(answers[0]?.list[0].addOns).toEqual(["extra", "gpu"]);
      // 30 + extra 10 x 21/31 (6.77) + gpu 20 x 21/31 (13.55) - gpu unused 20 x 11/31 (7.10).
      expect(answers[0]?.total).toBe("43.22");
      expect(answers[1]).toEqual(answers[0]);
    } finally {
      await schema.drop();
    }
  });

  it("a Postgres store from before add-ons is migrated on open: its plan history kept, add-ons recorded after", async () => {
    const schema = pgSchema();
    try {
      const on = (...args: string[]) => limitr([...args, "--db", schema.url], dir);
      expect((await on("customers", "set", "c1", "--plan", "pro", "--at", "2026-10-01")).exitCode).toBe(0);
      // Back to schema 1: the add_ons column, the later tables and their migration records gone.
      await pgQuery("ALTER TABLE subscriptions DROP COLUMN add_ons", [], schema.name);
      await pgQuery(
        "DROP TABLE pushed_invoices, counter_periods, wallets, wallet_transactions, customer_currencies, value_layouts, " +
          "lease_holders, lease_pools, counter_shares, wallet_leases, rollup_values, rollups, rollup_defs; " +
          "DROP FUNCTION limitr_numeric; ALTER TABLE events DROP COLUMN layout, DROP COLUMN n1, DROP COLUMN n2, " +
          "DROP COLUMN n3, DROP COLUMN n4, DROP COLUMN t1, DROP COLUMN t2",
        [],
        schema.name,
      );
      await pgQuery("DELETE FROM limitr_migrations WHERE version > 1", [], schema.name);
      const set = await on("customers", "set", "c1", "--add-on", "extra", "--at", "2026-10-16");
      expect(set.exitCode, set.stderr).toBe(0);
      const rows = await pgQuery<{ plan: string; add_ons: string }>(
        "SELECT plan, add_ons FROM subscriptions ORDER BY effective_at",
        [],
        schema.name,
      );
      expect(rows).toEqual([
        { plan: "pro", add_ons: "" },
        { plan: "pro", add_ons: "extra" },
      ]);
    } finally {
      await schema.drop();
    }
  });
});
