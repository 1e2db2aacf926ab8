import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import { dec } from "../../src/engine/core/money.js";
import { billPeriod } from "../../src/engine/core/rating/bill.js";
import type { UsageLookup } from "../../src/engine/core/rating/invoice.js";
import { customerCurrency, Limitr, planInCurrency } from "../../src/engine/index.js";
import { limitrInProcess } from "../cli/run-cli.js";

/**
 * Multi-currency pricing through the library: a plan's price lists are laid
 * over its own prices (never converted), invoices round to the customer's
 * currency (R9), and the engine prices and caps calls in it.
 */
const RAW = {
  limitr: 1,
  name: "t",
  currency: "USD",
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: {
    pro: {
      price: 49,
      minimum: 60,
      entitlements: {
        api: { meter: "calls", limit: 1000, mode: "soft", overage: 0.0123 },
        export_pdf: true,
      },
      caps: { daily: { amount: 5, period: "day", entitlements: ["api"] } },
      currencies: {
        JPY: {
          price: 7400,
          minimum: 9000,
          entitlements: { api: { overage: 1.85 } },
          caps: { daily: { amount: 750 } },
        },
        KWD: {
          price: "15.000",
          minimum: 18,
          entitlements: { api: { price: { model: "per_unit", unit_price: "0.0045", free_units: 1000 } } },
          caps: { daily: { amount: "1.5" } },
        },
      },
    },
  },
  customers: {
    tanaka: { plan: "pro", currency: "JPY", credits: [{ amount: 500 }] },
    alsabah: { plan: "pro", currency: "kwd" },
    smith: { plan: "pro" },
  },
};

const OCT = { start: Date.UTC(2026, 9, 1), end: Date.UTC(2026, 10, 1), label: "2026-10" };

/** Every customer used 2,001 calls in October. */
const lookup: UsageLookup = (w) => ({
  quantity: w.start < OCT.end && w.end > OCT.start ? dec(2001) : dec(0),
  events: 2001,
  byDim: new Map(),
});

function bill(raw: unknown = RAW) {
  const policy = compilePolicy(raw);
  const inputs = Object.values(policy.customers)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((c, i) => ({
      seq: i + 1,
      customer: c.id,
      contract: c,
      changes: [{ at: -8.64e15, plan: c.plan as string }],
      since: null,
      trialStart: {},
      credits: c.credits.map((credit) => ({ credit, remaining: dec(credit.amount) })),
    }));
  return billPeriod(policy, OCT, inputs, lookup);
}

describe("price lists (plans.<p>.currencies)", () => {
  it("a price list replaces the plan's money (fee, minimum, charge models, caps) and keeps limits and modes", () => {
    const policy = compilePolicy(RAW);
    const pro = policy.plans.pro;
    if (!pro) throw new Error("no plan");
    const jpy = planInCurrency(policy, pro, "JPY");
    expect(jpy).toMatchObject({
      price: "7400",
      minimum: "9000",
      caps: { daily: { amount: "750", period: "day" } },
    });
    expect(jpy?.entitlements.api).toMatchObject({
      limit: 1000,
      mode: "soft",
      price: { model: "graduated", tiers: [{ upTo: 1000, unitPrice: "0" }, { unitPrice: "1.85" }] },
    });
    expect(jpy?.entitlements.export_pdf).toEqual(pro.entitlements.export_pdf);
    expect(planInCurrency(policy, pro, "USD")).toBe(pro);
    expect(planInCurrency(policy, pro, "EUR")).toBeNull();
    // Codes are normalised to upper case; a customer without one is in the policy currency.
    expect(policy.customers.alsabah?.currency).toBe("KWD");
    expect(customerCurrency(policy, "smith")).toBe("USD");
    expect(customerCurrency(policy, "self-serve", "eur")).toBe("EUR");
    expect(customerCurrency(policy, "tanaka", "EUR")).toBe("JPY"); // the contract wins over the store
  });

  it("R9 each invoice is in its customer's currency, each line rounded half-up to that currency's minor unit", () => {
    const b = bill();
    const byCustomer = Object.fromEntries(b.invoices.map((i) => [i.customer, i]));
    const lines = (c: string) =>
      byCustomer[c]?.lines.map((l) => [l.kind, l.amount.toFixed(byCustomer[c]?.currencyDigits)]);
    // JPY: 1,001 calls past the limit x 1.85 = 1,851.85 -> 1,852 yen; the 500 yen contract credit is in yen too.
    expect(byCustomer.tanaka).toMatchObject({ currency: "JPY", currencyDigits: 0 });
    expect(lines("tanaka")).toEqual([
      ["subscription", "7400"],
      ["usage", "1852"],
      ["credit", "-500"],
    ]);
    expect(byCustomer.tanaka?.total.toFixed()).toBe("8752");
    // KWD: 1,001 x 0.0045 = 4.5045 -> 4.505 (half-up at the third place); 19.505 is past the 18 KWD minimum.
    expect(byCustomer.alsabah).toMatchObject({ currency: "KWD", currencyDigits: 3 });
    expect(lines("alsabah")).toEqual([
      ["subscription", "15.000"],
      ["usage", "4.505"],
    ]);
    // USD: 1,001 x 0.0123 = 12.3123 -> 12.31; 61.31 is past the 60 USD minimum.
    expect(lines("smith")).toEqual([
      ["subscription", "49.00"],
      ["usage", "12.31"],
    ]);
    // The minimum true-up is in the list's currency: 9,000 yen, not 60 converted.
    const lowUsage: UsageLookup = () => ({ quantity: dec(0), events: 0, byDim: new Map() });
    const policy = compilePolicy(RAW);
    const tanaka = policy.customers.tanaka;
    if (!tanaka) throw new Error("no contract");
    const quiet = billPeriod(
      policy,
      OCT,
      [
        {
          seq: 1,
          customer: "tanaka",
          contract: tanaka,
          changes: [{ at: -8.64e15, plan: "pro" }],
          since: null,
          trialStart: {},
          credits: [],
        },
      ],
      lowUsage,
    );
    expect(quiet.invoices[0]?.lines.map((l) => [l.kind, l.amount.toFixed()])).toEqual([
      ["subscription", "7400"],
      ["minimum", "1600"],
    ]);
  });

  it("a contract's raised limit moves the free tier of its currency's overage price (1.85 JPY past 1,500 calls)", () => {
    const raw = structuredClone(RAW);
    (raw.customers as Record<string, unknown>).tanaka = {
      plan: "pro",
      currency: "JPY",
      overrides: { api: { limit: 1500 } },
    };
    const tanaka = bill(raw).invoices.find((i) => i.customer === "tanaka");
    // 501 calls past 1,500 x 1.85 = 926.85 -> 927 yen (never the plan's 0.0123 USD).
    expect(tanaka?.lines.find((l) => l.kind === "usage")?.amount.toFixed()).toBe("927");
  });

  it("bill totals are per currency and never summed across currencies; margins only where costs share the currency", () => {
    const b = bill();
    expect(Object.keys(b.totalsByCurrency)).toEqual(["USD", "JPY", "KWD"]);
    expect(b.totals).toBe(b.totalsByCurrency.USD);
    expect(b.totalsByCurrency.USD?.total.toFixed(2)).toBe("61.31");
    expect(b.totalsByCurrency.JPY?.total.toFixed()).toBe("8752");
    expect(b.totalsByCurrency.KWD?.total.toFixed(3)).toBe("19.505");
    expect(b.totalsByCurrency.JPY?.invoices).toBe(1);
    expect(b.totalsByCurrency.JPY?.marginPercent).toBeNull();
    expect(b.totalsByCurrency.USD?.marginPercent?.toFixed(2)).toBe("100.00");
  });

  it("a customer in a currency the plan has no prices for is a policy error naming the plan, never a conversion", () => {
    const raw = structuredClone(RAW) as typeof RAW & { customers: Record<string, unknown> };
    raw.customers = { ...raw.customers, dupont: { plan: "pro", currency: "EUR" } };
    expect(() => bill(raw)).toThrow(/dupont is invoiced in EUR but plan pro has no EUR prices/);
  });

  it("diff: raising a price list's price is breaking and names the currency; a contract's currency change is breaking", () => {
    const base = compilePolicy(RAW);
    const raised = structuredClone(RAW);
    raised.plans.pro.currencies.JPY.entitlements.api.overage = 2.1;
    raised.plans.pro.currencies.JPY.price = 7900;
    raised.plans.pro.currencies.KWD.caps.daily.amount = "1.2";
    (raised.customers.smith as Record<string, unknown>).currency = "JPY";
    const d = diffPolicies(base, compilePolicy(raised));
    const reasons = d.changes.filter((c) => c.breaking).map((c) => [c.path, c.reason]);
    expect(reasons).toEqual(
      expect.arrayContaining([
        ["plans.pro.currencies.JPY.price", "JPY recurring price raised"],
        ["plans.pro.currencies.JPY.entitlements.api.tiers[1].unitPrice", "JPY overage price raised"],
        ["plans.pro.currencies.KWD.caps.daily", "KWD cap daily lowered"],
        ["customers.smith.currency", "invoice currency changed (USD -> JPY): another price list applies"],
      ]),
    );
    const removed = structuredClone(RAW) as Record<string, unknown> & typeof RAW;
    delete (removed.plans.pro.currencies as Record<string, unknown>).KWD;
    delete (removed.customers as Record<string, unknown>).alsabah;
    const gone = diffPolicies(base, compilePolicy(removed)).changes.find(
      (c) => c.path === "plans.pro.currencies.KWD",
    );
    expect(gone).toMatchObject({ breaking: true });
    expect(gone?.reason).toContain("alsabah");
  });
});

describe("the engine in the customer's currency", () => {
  let dir: string;
  let engine: Limitr | null = null;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-currency-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "policy.json.yaml"), JSON.stringify(RAW));
  });
  afterEach(async () => {
    await engine?.close();
    engine = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it("R18 a decision's price and the spend caps are in the customer's currency (750 JPY a day, 5 USD a day)", async () => {
    engine = await Limitr.open({ policy: join(dir, "policies"), store: "memory", alerts: false });
    const now = Date.UTC(2026, 9, 5, 12);
    // Past the 1,000 included calls, each call costs 1.85 JPY, 0.0045 KWD or 0.0123 USD.
    for (const c of ["tanaka", "alsabah", "smith"])
      expect(engine.decide(c, "api", 1000, { now }).price).toBe("0");
    expect(engine.decide("tanaka", "api", 10, { now }).price).toBe("18.5");
    expect(engine.decide("alsabah", "api", 10, { now }).price).toBe("0.045");
    expect(engine.decide("smith", "api", 10, { now }).price).toBe("0.123");
    // 750 JPY a day: after the 18.5 yen spent, 395 more calls fit (749.25 yen in all); one more (751.10) does not.
    const fit = Math.floor((750 - 18.5) / 1.85);
    expect(engine.decide("tanaka", "api", fit, { now })).toMatchObject({ allowed: true });
    expect(engine.decide("tanaka", "api", 1, { now })).toMatchObject({
      allowed: false,
      reason: "cap_exceeded",
    });
    // The same calls stay under the 5 USD cap of a USD customer (0.123 + 395 x 0.0123 = 4.9815).
    expect(engine.decide("smith", "api", fit, { now })).toMatchObject({ allowed: true });
    const caps = engine.caps("tanaka", { now });
    expect(caps).toMatchObject([{ cap: "daily", amount: "750" }]);
    expect(dec(caps[0]?.spent ?? "0").toFixed(2)).toBe(dec(18.5).plus(dec(fit).times(1.85)).toFixed(2));
    expect(engine.caps("smith", { now })).toMatchObject([{ cap: "daily", amount: "5" }]);
  });

  it("a self-serve customer's currency recorded in the store (`customers set --currency`) prices the engine's decisions", async () => {
    const db = join(dir, "usage.db");
    const set = await limitrInProcess(
      [
        "customers",
        "set",
        "yamada",
        "--plan",
        "pro",
        "--currency",
        "JPY",
        "--db",
        db,
        "--policies",
        "policies",
      ],
      dir,
    );
    expect(set.exitCode, set.stderr).toBe(0);
    const other = await limitrInProcess(
      ["customers", "set", "suzuki", "--plan", "pro", "--db", db, "--policies", "policies"],
      dir,
    );
    expect(other.exitCode, other.stderr).toBe(0);
    engine = await Limitr.open({ policy: join(dir, "policies"), store: `sqlite:${db}`, alerts: false });
    const now = Date.UTC(2026, 11, 5, 12);
    expect(engine.decide("yamada", "api", 1000, { now }).price).toBe("0");
    expect(engine.decide("yamada", "api", 10, { now }).price).toBe("18.5");
    expect(engine.caps("yamada", { now })).toMatchObject([{ cap: "daily", amount: "750" }]);
    // A customer with nothing recorded stays in the policy currency.
    expect(engine.decide("suzuki", "api", 1010, { now }).price).toBe("0.123");
  });
});
