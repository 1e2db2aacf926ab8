import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ChargeModel, Tier } from "../../src/engine/core/model.js";
import { dec, formatMoney } from "../../src/engine/core/money.js";
import { rateCharge } from "../../src/engine/core/rating/charge-models.js";

/**
 * Worked examples from the pricing documentation of Stripe ("Tiered pricing",
 * "Package pricing") and Lago ("Charge models": graduated, volume, package,
 * percentage), recomputed by hand in the comments.
 */
const amount = (model: ChargeModel, quantity: number | string, events = 0) =>
  formatMoney(rateCharge(model, { quantity: dec(quantity), events }).amount, 2);

const tier = (upTo: number | null, unitPrice: string, flatFee = "0"): Tier => ({ upTo, unitPrice, flatFee });

// Stripe tiered pricing: units 1-5 at $7, 6-10 at $6.50, 11+ at $6.
const stripeTiers = [tier(5, "7"), tier(10, "6.5"), tier(null, "6")];
// Lago graduated/volume with flat fees: 0-100 at $1 + $10 flat, 101+ at $0.50 + $5 flat.
const lagoTiers = [tier(100, "1", "10"), tier(null, "0.5", "5")];

describe("graduated (R10)", () => {
  it("Stripe example: 11 units = 5 x 7 + 5 x 6.50 + 1 x 6 = 73.50", () => {
    expect(amount({ model: "graduated", tiers: stripeTiers }, 11)).toBe("73.50");
  });
  it("Stripe example: 3 units stay in tier 1 = 21.00", () => {
    expect(amount({ model: "graduated", tiers: stripeTiers }, 3)).toBe("21.00");
  });
  it("Lago example: 200 units = 100 x 1 + 10 + 100 x 0.50 + 5 = 165.00", () => {
    expect(amount({ model: "graduated", tiers: lagoTiers }, 200)).toBe("165.00");
  });
  it("R10 graduated charges tier-1 flat fee at zero usage", () => {
    expect(amount({ model: "graduated", tiers: lagoTiers }, 0)).toBe("10.00");
  });
  it("R10 graduated charges a tier's flat fee only once it is reached (100 is inclusive in tier 1)", () => {
    expect(amount({ model: "graduated", tiers: lagoTiers }, 100)).toBe("110.00");
    expect(amount({ model: "graduated", tiers: lagoTiers }, 101)).toBe("115.50");
  });
  it("overage sugar: 2.5M tokens with 2M included at 0.000003 = 1.50", () => {
    expect(
      amount({ model: "graduated", tiers: [tier(2_000_000, "0"), tier(null, "0.000003")] }, 2_500_000),
    ).toBe("1.50");
  });
});

describe("volume (R10)", () => {
  it("Stripe example: 11 units all at tier 3 = 11 x 6 = 66.00", () => {
    expect(amount({ model: "volume", tiers: stripeTiers }, 11)).toBe("66.00");
  });
  it("Stripe example: 10 units all at tier 2 (up_to inclusive) = 65.00", () => {
    expect(amount({ model: "volume", tiers: stripeTiers }, 10)).toBe("65.00");
  });
  it("Lago example: 200 units all at 0.50 plus that tier's flat fee only = 105.00", () => {
    expect(amount({ model: "volume", tiers: lagoTiers }, 200)).toBe("105.00");
  });
  it("R10 volume charges the first tier's flat fee at zero usage", () => {
    expect(amount({ model: "volume", tiers: lagoTiers }, 0)).toBe("10.00");
  });
});

describe("package (R10)", () => {
  const pkg = (rounding: "up" | "down", freeUnits = 0): ChargeModel => ({
    model: "package",
    packageSize: 100,
    packagePrice: "5",
    freeUnits,
    rounding,
  });
  it("Stripe example: 5 per 100 units, 1 unit buys a whole package = 5.00", () => {
    expect(amount(pkg("up"), 1)).toBe("5.00");
  });
  it("Stripe example: 101 units = 2 packages = 10.00", () => {
    expect(amount(pkg("up"), 101)).toBe("10.00");
  });
  it("Lago example: 350 units with 100 free = ceil(250 / 100) = 3 packages = 15.00", () => {
    expect(amount(pkg("up", 100), 350)).toBe("15.00");
  });
  it("rounding down: 350 units with 100 free = floor(2.5) = 2 packages = 10.00", () => {
    expect(amount(pkg("down", 100), 350)).toBe("10.00");
  });
  it("R10 package is never negative below the free units", () => {
    expect(amount(pkg("up", 500), 20)).toBe("0.00");
  });
});

describe("percentage", () => {
  const model: ChargeModel = { model: "percentage", rate: "1", fixedFee: "0.10", freeEvents: 3 };
  const rate = (quantity: string, events: number, freeEventsQuantity: string) =>
    formatMoney(
      rateCharge(model, { quantity: dec(quantity), events, freeEventsQuantity: dec(freeEventsQuantity) })
        .amount,
      2,
    );
  it("§15 free_events: the first 3 of 5 transactions (100 + 200 + 300) are free entirely: 1% of 400 + 2 x 0.10 = 4.20", () => {
    expect(rate("1000", 5, "600")).toBe("4.20");
  });
  it("§15 free_events: within the free events nothing is charged, neither rate nor fixed fee", () => {
    expect(rate("250.50", 3, "250.50")).toBe("0.00");
  });
  it("without free_events every event pays the rate and the fixed fee", () => {
    const all: ChargeModel = { ...model, freeEvents: 0 };
    expect(amount(all, "1000", 5)).toBe("10.50");
  });
});

describe("per_unit and R9 rounding", () => {
  it("sub-cent unit price: 123,456 x 0.00002 = 2.46912 -> 2.47", () => {
    expect(amount({ model: "per_unit", unitPrice: "0.00002", freeUnits: 0 }, 123_456)).toBe("2.47");
  });
  it("R9 rounds half-up after multiplying: 1 x 0.005 = 0.01, 3 x 0.0015 = 0.0045 -> 0.00", () => {
    expect(amount({ model: "per_unit", unitPrice: "0.005", freeUnits: 0 }, 1)).toBe("0.01");
    expect(amount({ model: "per_unit", unitPrice: "0.0015", freeUnits: 0 }, 3)).toBe("0.00");
  });
  it("R9 is exact where binary floats are not: 3 x 0.1 = 0.30 and 1,000,001 x 0.0000025 = 2.50", () => {
    expect(
      rateCharge(
        { model: "per_unit", unitPrice: "0.1", freeUnits: 0 },
        { quantity: dec(3), events: 0 },
      ).amount.toFixed(),
    ).toBe("0.3");
    expect(amount({ model: "per_unit", unitPrice: "0.0000025", freeUnits: 0 }, 1_000_001)).toBe("2.50");
  });
  it("free units: 30 seats at 30 with 25 free = 150.00", () => {
    expect(amount({ model: "per_unit", unitPrice: "30", freeUnits: 25 }, 30)).toBe("150.00");
  });
});

describe("properties", () => {
  const tiers = fc
    .array(
      fc.tuple(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 500 }),
      ),
      {
        minLength: 1,
        maxLength: 5,
      },
    )
    .map((raw) => {
      let upTo = 0;
      return raw.map(([width, price, flat], i) => {
        upTo += width;
        return tier(i === raw.length - 1 ? null : upTo, dec(price).div(10_000).toFixed(), String(flat));
      });
    });

  it("graduated is >= 0 and monotonic in quantity", () => {
    fc.assert(
      fc.property(
        tiers,
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (ts, a, b) => {
          const model: ChargeModel = { model: "graduated", tiers: ts };
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const x = rateCharge(model, { quantity: dec(lo), events: 0 }).amount;
          const y = rateCharge(model, { quantity: dec(hi), events: 0 }).amount;
          return x.gte(0) && y.gte(x);
        },
      ),
    );
  });

  it("rating is deterministic", () => {
    fc.assert(
      fc.property(tiers, fc.integer({ min: 0, max: 100_000 }), (ts, q) => {
        const model: ChargeModel = { model: "volume", tiers: ts };
        const a = rateCharge(model, { quantity: dec(q), events: 0 });
        const b = rateCharge(model, { quantity: dec(q), events: 0 });
        return a.amount.eq(b.amount) && a.detail === b.detail;
      }),
    );
  });
});
