import { describe, expect, it } from "vitest";
import { codes, withBase } from "./helpers.js";

/** Multi-currency validation: explicit price lists, located errors. */
const PLAN = `plans:
  pro:
    price: 49
    entitlements:
      api: { meter: calls, limit: 1000, mode: soft, overage: 0.0123 }
      pdf: true
    caps:
      daily: { amount: 5, period: day, entitlements: [api] }
    currencies:
`;

describe("multi-currency validation", () => {
  it("a complete price list and a customer in its currency validate and compile", () => {
    const r = withBase({
      "plans.yaml": `${PLAN}      jpy:\n        price: 7400\n        entitlements:\n          api: { overage: 1.85 }\n        caps:\n          daily: { amount: 750 }\n`,
      "customers.yaml": "customers:\n  tanaka: { plan: pro, currency: JPY }\n",
    });
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.plans.pro?.currencies?.JPY?.price).toBe("7400");
    expect(r.policy?.customers.tanaka?.currency).toBe("JPY");
  });

  it("currency/unknown-code: a price list or a customer currency that is not ISO 4217, with a suggestion", () => {
    const r = withBase({
      "plans.yaml": `${PLAN}      JPX:\n        price: 7400\n        entitlements: { api: { overage: 1.85 } }\n        caps: { daily: { amount: 750 } }\n`,
      "customers.yaml": "customers:\n  acme: { plan: pro, currency: USX }\n",
    });
    expect(r.diagnostics).toMatchObject([
      {
        code: "currency/unknown-code",
        file: "plans.yaml",
        line: 10,
        column: 7,
        path: "plans.pro.currencies.JPX",
      },
      { code: "currency/unknown-code", file: "customers.yaml", line: 2, path: "customers.acme.currency" },
    ]);
    expect(r.diagnostics[1]?.hint).toMatch(/did you mean/);
  });

  it("currency/incomplete-price-list names every missing price; prices are never converted", () => {
    const r = withBase({ "plans.yaml": `${PLAN}      EUR:\n        minimum: 0\n` });
    expect(r.diagnostics).toMatchObject([
      {
        code: "currency/incomplete-price-list",
        file: "plans.yaml",
        line: 10,
        message:
          "plans.pro.currencies.EUR does not price price, entitlements.api, caps.daily: prices are never converted between currencies",
      },
    ]);
  });

  it("a list for the policy currency, an unpriced or unknown entitlement and an unknown cap are errors at their keys", () => {
    const r = withBase({
      "plans.yaml":
        `${PLAN}      USD: { price: 49 }\n      EUR:\n        price: 45\n        entitlements:\n          api: { overage: 0.011 }\n` +
        "          pdf: { overage: 1 }\n          chat: { overage: 1 }\n        caps:\n          daily: { amount: 4 }\n          weekly: { amount: 9 }\n",
    });
    expect(codes(r.diagnostics)).toEqual([
      "currency/policy-currency-list",
      "currency/unpriced-entitlement",
      "currency/unpriced-entitlement",
      "currency/unknown-cap",
    ]);
    expect(r.diagnostics.map((d) => [d.path, d.line])).toEqual([
      ["plans.pro.currencies.USD", 10],
      ["plans.pro.currencies.EUR.entitlements.pdf", 15],
      ["plans.pro.currencies.EUR.entitlements.chat", 16],
      ["plans.pro.currencies.EUR.caps.weekly", 19],
    ]);
  });

  it("currency/no-price-list: a contract in a currency its plan has no price list for, located at the currency", () => {
    const r = withBase({
      "plans.yaml": `${PLAN}      JPY: { price: 7400, entitlements: { api: { overage: 1.85 } }, caps: { daily: { amount: 750 } } }\n`,
      "customers.yaml": "customers:\n  dupont:\n    plan: pro\n    currency: EUR\n",
    });
    expect(r.diagnostics).toMatchObject([
      {
        code: "currency/no-price-list",
        file: "customers.yaml",
        line: 4,
        column: 15,
        message: "customers.dupont is invoiced in EUR but plans.pro has no EUR price list",
        hint: "add plans.pro.currencies.EUR (prices of plans.pro: USD, JPY)",
      },
    ]);
  });

  it("currency/minor-units: whole amounts finer than the currency (7400.5 JPY, 1.2345 KWD, a 0.001 USD flat fee); unit prices may be finer", () => {
    const r = withBase({
      "plans.yaml":
        "plans:\n  pro:\n    price: 49\n    entitlements:\n      api:\n        meter: calls\n        price: { model: graduated, tiers: [ { up_to: 10, unit_price: 0.00001, flat_fee: 0.001 }, { unit_price: 0.1 } ] }\n" +
        "    currencies:\n      JPY:\n        price: 7400.5\n        entitlements:\n          api: { price: { model: per_unit, unit_price: 0.015 } }\n" +
        "      KWD:\n        price: 1.2345\n        entitlements:\n          api: { price: { model: package, package_size: 100, package_price: 0.5 } }\n",
      "customers.yaml":
        "customers:\n  tanaka:\n    plan: pro\n    currency: JPY\n    credits:\n      - { amount: 100.5 }\n",
    });
    expect(r.diagnostics.map((d) => [d.code, d.path, d.line])).toEqual([
      ["currency/minor-units", "plans.pro.entitlements.api.price.tiers[0].flat_fee", 7],
      ["currency/minor-units", "plans.pro.currencies.JPY.price", 10],
      ["currency/minor-units", "plans.pro.currencies.KWD.price", 14],
      ["currency/minor-units", "customers.tanaka.credits[0].amount", 6],
    ]);
    expect(r.diagnostics[1]?.message).toBe(
      "plans.pro.currencies.JPY.price is 7400.5 JPY, finer than the JPY minor unit (0 decimal places)",
    );
    // Trailing zeros are not finer: 7400.00 JPY and 15.000 KWD are whole amounts.
    const ok = withBase({
      "plans.yaml":
        "plans:\n  pro:\n    price: 49.10\n    currencies:\n      JPY: { price: 7400.00 }\n      KWD: { price: 15.000 }\n",
    });
    expect(ok.diagnostics).toEqual([]);
  });

  it("currency/wallet: a wallet is kept in the policy currency, so a contract in another cannot hold one", () => {
    const r = withBase({
      "plans.yaml":
        "plans:\n  payg:\n    wallet: { minimum: 0 }\n    entitlements:\n      api: { meter: calls, mode: prepaid, price: { model: per_unit, unit_price: 0.01 } }\n" +
        "    currencies:\n      JPY: { entitlements: { api: { price: { model: per_unit, unit_price: 1.5 } } } }\n",
      "customers.yaml": "customers:\n  tanaka: { plan: payg, currency: JPY }\n",
    });
    expect(r.diagnostics).toMatchObject([{ code: "currency/wallet", path: "customers.tanaka.currency" }]);
  });
});
