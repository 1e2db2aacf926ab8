import { Chalk } from "chalk";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulationHtml } from "../../src/cli/render/simulate-html.js";
import { simulationJson } from "../../src/cli/render/simulate-json.js";
import { simulationMarkdown } from "../../src/cli/render/simulate-markdown.js";
import { simulationText } from "../../src/cli/render/simulate-text.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { dec, sum } from "../../src/engine/core/money.js";
import type { Bill, BilledInvoice } from "../../src/engine/core/rating/bill.js";
import { compareSimulation, type SimulationSide } from "../../src/engine/core/simulate/compare.js";
import type { CustomerReplay } from "../../src/engine/core/simulate/types.js";
import { problems } from "../schemas/ajv.js";

/** The pure comparison on hand-made bills: sums, grouping, movers and the blocked list. */
const policy = compilePolicy({
  limitr: 1,
  name: "t",
  currency: "USD",
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    free: { default: true, price: 0, entitlements: { api: { meter: "calls", limit: 10, mode: "hard" } } },
    pro: { price: 10, entitlements: { api: { meter: "calls", limit: 100, mode: "soft", overage: 0.01 } } },
  },
});

function invoice(customer: string, plan: string, total: string, usage = "0"): BilledInvoice {
  return {
    number: `t-${customer}`,
    customer,
    plan,
    currency: "USD",
    currencyDigits: 2,
    lines: [
      {
        kind: "usage",
        description: "",
        entitlement: "api",
        meter: "calls",
        quantity: null,
        unitPrice: null,
        amount: dec(usage),
        cost: dec(0),
      },
    ],
    subtotal: dec(total),
    discount: dec(0),
    creditsApplied: dec(0),
    total: dec(total),
    cost: dec("1.00"),
    marginPercent: null,
    creditUses: [],
  };
}

function side(ref: string, invoices: BilledInvoice[], denied: Record<string, number> = {}): SimulationSide {
  const customers = new Map<string, CustomerReplay>(
    Object.entries(denied).map(([c, n]) => [c, { denied: n, deniedBy: { api: n }, ranDry: 0, capped: 0 }]),
  );
  const bill = { invoices } as unknown as Bill;
  return {
    info: { ref, commit: null, digest: `sha256:${ref}` },
    policy,
    bill,
    replay: { events: 0, customers, unknownPlans: [] },
  };
}

const PERIOD = { label: "2026-10", start: 0, end: 1 };

describe("compareSimulation", () => {
  it("groups by each side's plan, counts the affected and the newly blocked, and orders the movers", () => {
    const report = compareSimulation(
      side(
        "base",
        [
          invoice("a", "pro", "10.00", "0"),
          invoice("b", "pro", "12.00", "2.00"),
          invoice("c", "free", "0.00"),
        ],
        { c: 1 },
      ),
      side(
        "head",
        [
          invoice("a", "pro", "10.00", "0"),
          invoice("b", "pro", "14.50", "4.50"),
          invoice("c", "free", "0.00"),
          invoice("d", "pro", "10.00"),
        ],
        {
          c: 3,
          e: 2,
        },
      ),
      PERIOD,
    );
    expect(report.customers.map((c) => c.customer)).toEqual(["a", "b", "c", "d", "e"]);
    expect(report.totals.change.toFixed(2)).toBe("12.50");
    expect(report.totals.changePct?.toFixed(2)).toBe("56.82"); // 12.50 / 22.00
    expect([report.totals.base.denied, report.totals.head.denied]).toEqual([1, 5]);
    // b, d (revenue), c (more denials), e (new denials); a is unchanged.
    expect(report.totals.customersAffected).toBe(4);
    expect(report.newlyBlocked.map((c) => c.customer)).toEqual(["e"]);
    expect(report.moversUp.map((c) => c.customer)).toEqual(["d", "b"]);
    expect(report.moversDown).toEqual([]);
    const pro = report.plans.find((p) => p.plan === "pro");
    expect([
      pro?.baseCustomers,
      pro?.headCustomers,
      pro?.base.revenue.toFixed(2),
      pro?.head.revenue.toFixed(2),
    ]).toEqual([2, 3, "22.00", "34.50"]);
    // Overage = usage charges of limited entitlements: b's api line.
    expect([pro?.base.overage.toFixed(2), pro?.head.overage.toFixed(2)]).toEqual(["2.00", "4.50"]);
    expect(report.plans.map((p) => p.plan)).toEqual(["free", "pro", "(no plan)"]); // e has no invoice
  });

  it("totals are the sum of the customers, and of the plans, on both sides", () => {
    const amount = fc.integer({ min: 0, max: 1_000_000 }).map((c) => (c / 100).toFixed(2));
    const row = fc.record({
      plan: fc.constantFrom("free", "pro"),
      base: amount,
      head: amount,
      denied: fc.nat(5),
    });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), (rows) => {
        const ids = rows.map((_, i) => `c${i}`);
        const report = compareSimulation(
          side(
            "b",
            rows.map((r, i) => invoice(ids[i] as string, r.plan, r.base)),
          ),
          side(
            "h",
            rows.map((r, i) => invoice(ids[i] as string, r.plan, r.head)),
            Object.fromEntries(rows.map((r, i) => [ids[i], r.denied])),
          ),
          PERIOD,
        );
        const t = report.totals;
        expect(t.base.revenue.eq(sum(report.customers.map((c) => c.base.revenue)))).toBe(true);
        expect(t.head.revenue.eq(sum(report.plans.map((p) => p.head.revenue)))).toBe(true);
        expect(t.change.eq(t.head.revenue.minus(t.base.revenue))).toBe(true);
        expect(t.head.denied).toBe(rows.reduce((s, r) => s + r.denied, 0));
        expect(report.moversUp.length).toBeLessThanOrEqual(10);
        for (let i = 1; i < report.moversUp.length; i++)
          expect(report.moversUp[i - 1]?.change.gte(report.moversUp[i]?.change ?? 0)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("reports wallets that run dry and caps that are hit under head but not base, in text, JSON, markdown and HTML", () => {
    const replays = (rows: Record<string, Partial<CustomerReplay>>): SimulationSide["replay"] => ({
      events: 0,
      unknownPlans: [],
      customers: new Map(
        Object.entries(rows).map(([c, r]) => [c, { denied: 0, deniedBy: {}, ranDry: 0, capped: 0, ...r }]),
      ),
    });
    const invoices = [
      invoice("a", "pro", "10.00"),
      invoice("b", "pro", "10.00"),
      invoice("c", "pro", "10.00"),
    ];
    const base = {
      ...side("base", invoices),
      replay: replays({ a: { denied: 2, deniedBy: { api: 2 }, ranDry: 2 } }),
    };
    const head = {
      ...side("head", invoices),
      replay: replays({
        a: { denied: 3, deniedBy: { api: 3 }, ranDry: 3 },
        b: { denied: 4, deniedBy: { api: 4 }, ranDry: 4 },
        c: { denied: 1, deniedBy: { api: 1 }, capped: 1 },
      }),
    };
    const report = compareSimulation(base, head, PERIOD);
    expect(report.totals.customersRanDry).toEqual({ base: 1, head: 2 });
    expect(report.totals.customersCapped).toEqual({ base: 0, head: 1 });
    expect(report.newlyRanDry.map((c) => c.customer)).toEqual(["b"]); // a ran dry under base too
    expect(report.newlyCapped.map((c) => c.customer)).toEqual(["c"]);
    const json = simulationJson(report, null);
    const digest = `sha256:${"0".repeat(64)}`;
    json.base = { ...json.base, digest };
    json.head = { ...json.head, digest };
    expect(problems("cli/simulate.schema.json", json)).toEqual([]);
    expect(json.totals).toMatchObject({
      base_customers_ran_dry: 1,
      head_customers_ran_dry: 2,
      base_customers_capped: 0,
      head_customers_capped: 1,
    });
    expect(json.newly_ran_dry).toEqual([{ customer: "b", head_ran_dry: 4 }]);
    expect(json.newly_capped).toEqual([{ customer: "c", head_capped: 1 }]);
    expect(json.customers.find((c) => c.customer === "a")).toMatchObject({
      base_ran_dry: 2,
      head_ran_dry: 3,
    });
    const text = simulationText(report, null, new Chalk({ level: 0 }));
    expect(text).toContain("wallets run dry: 1 -> 2 customers, spend caps hit: 0 -> 1 customers");
    expect(text).toMatch(/Wallets newly run dry \(1\)\n.*\n.*\n\s*b\s+pro\s+4\n/);
    expect(text).toMatch(/Spend caps newly hit \(1\)\n.*\n.*\n\s*c\s+pro\s+1\n/);
    const md = simulationMarkdown(report, null);
    expect(md).toContain("| Wallets run dry (customers) | 1 | 2 | +1 |");
    expect(md).toContain("| Spend caps hit (customers) | 0 | 1 | +1 |");
    expect(md).toMatch(/<summary>Wallets newly run dry \(1\)<\/summary>[\s\S]*?\| `b` \| pro \| 4 \|/);
    expect(md).toMatch(/<summary>Spend caps newly hit \(1\)<\/summary>[\s\S]*?\| `c` \| pro \| 1 \|/);
    const html = simulationHtml(report, null);
    expect(html).toContain("<td>wallets run dry (customers)</td><td>1</td><td>2</td><td>1</td>");
    expect(html).toMatch(
      /<h2>Wallets newly run dry \(1\)<\/h2>\s*<table>.*<td>b<\/td><td>pro<\/td><td>4<\/td>/,
    );
    expect(html).toMatch(
      /<h2>Spend caps newly hit \(1\)<\/h2>\s*<table>.*<td>c<\/td><td>pro<\/td><td>1<\/td>/,
    );
    // A policy pair without wallet or cap refusals prints the report as before.
    const plain = compareSimulation(side("base", invoices), side("head", invoices), PERIOD);
    expect(simulationText(plain, null, new Chalk({ level: 0 }))).not.toContain("run dry");
    expect(simulationMarkdown(plain, null)).not.toContain("run dry");
    expect(simulationHtml(plain, null)).not.toContain("run dry");
  });
});
