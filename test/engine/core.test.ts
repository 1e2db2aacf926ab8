import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { marginalPrice, periodCharge } from "../../src/engine/core/engine/marginal-price.js";
import { TokenBucket } from "../../src/engine/core/engine/token-bucket.js";
import type { ChargeModel } from "../../src/engine/core/model.js";
import { dec } from "../../src/engine/core/money.js";

const MODELS: ChargeModel[] = [
  { model: "per_unit", unitPrice: "0.00002", freeUnits: 1000 },
  {
    model: "graduated",
    tiers: [
      { upTo: 100, unitPrice: "0", flatFee: "0" },
      { upTo: 1000, unitPrice: "0.01", flatFee: "5" },
      { upTo: null, unitPrice: "0.001", flatFee: "0" },
    ],
  },
  {
    model: "volume",
    tiers: [
      { upTo: 100, unitPrice: "0.1", flatFee: "0" },
      { upTo: null, unitPrice: "0.05", flatFee: "2" },
    ],
  },
  { model: "package", packageSize: 100, packagePrice: "5", freeUnits: 10, rounding: "up" },
  { model: "percentage", rate: "2.5", fixedFee: "0.3", freeEvents: 2 },
];

describe("marginal price", () => {
  it("R10 a graduated price between two quantities equals the difference of their period charges", () => {
    const tier = (upTo: number | null) =>
      fc.record({
        upTo: fc.constant(upTo),
        unitPrice: fc.constantFrom("0", "0.000003", "0.01", "1.25"),
        flatFee: fc.constantFrom("0", "5"),
      });
    const tiers = fc
      .uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 0, maxLength: 3 })
      .chain((bounds) => {
        const sorted = [...bounds].sort((a, b) => a - b);
        return fc.tuple(...sorted.map((b) => tier(b)), tier(null));
      });
    // Whole units and thousandths (token counts, seconds of GPU time).
    const amountOf = (min: number, max: number) =>
      fc.oneof(
        fc.integer({ min, max }),
        fc.integer({ min: min * 1000, max: max * 1000 }).map((n) => n / 1000),
      );
    // Quantities on a tier boundary are where flat fees start: draw them often.
    const cases = tiers.chain((t) => {
      const bounds = t.flatMap((x) => (x.upTo === null ? [] : [x.upTo, x.upTo + 0.001]));
      const near = fc.constantFrom(0, ...bounds);
      return fc.tuple(
        fc.constant(t),
        fc.oneof(amountOf(0, 700), near),
        fc.oneof(
          amountOf(-800, 800),
          near.map((b) => b + 1),
        ),
      );
    });
    fc.assert(
      fc.property(cases, ([t, used, amount]) => {
        const model: ChargeModel = { model: "graduated", tiers: t };
        const after = Math.max(0, used + amount);
        const expected =
          amount === 0 ? dec(0) : periodCharge(model, after, 1).minus(periodCharge(model, used, 1));
        expect(marginalPrice(model, used, amount, 1)).toBe(expected.isZero() ? "0" : expected.toFixed());
      }),
      { numRuns: 500 },
    );
  });

  it("the marginal prices of a period's calls add up exactly to the period's charge", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MODELS),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 30 }),
        (model, amounts) => {
          let used = 0;
          let events = 0;
          let total = dec(0);
          for (const amount of amounts) {
            total = total.plus(marginalPrice(model, used, amount, events));
            used += amount;
            events++;
          }
          // Percentage free_events: the first N calls' units are free (SPEC §15).
          const free = model.model === "percentage" ? amounts.slice(0, model.freeEvents) : [];
          const freeQuantity = free.reduce((a, b) => a + b, 0);
          expect(total.toFixed()).toBe(
            periodCharge(model, used, events, freeQuantity)
              .minus(periodCharge(model, 0, 0))
              .toFixed(),
          );
        },
      ),
    );
  });

  it("R10 graduated charges tier-1 flat fee at zero usage and each tier's fee once reached", () => {
    const model: ChargeModel = {
      model: "graduated",
      tiers: [
        { upTo: 10, unitPrice: "1", flatFee: "3" },
        { upTo: null, unitPrice: "0.5", flatFee: "7" },
      ],
    };
    expect(periodCharge(model, 0, 0).toFixed()).toBe("3");
    expect(periodCharge(model, 10, 1).toFixed()).toBe("13");
    expect(periodCharge(model, 11, 2).toFixed()).toBe("20.5");
  });

  it("no charge model or a zero amount costs nothing", () => {
    expect(marginalPrice(null, 5, 10, 1)).toBe("0");
    expect(marginalPrice(MODELS[0] as ChargeModel, 5000, 0, 1)).toBe("0");
  });
});

describe("token bucket (rate governor)", () => {
  it("starts full, refills per second up to capacity, and a refused take consumes nothing", () => {
    const t0 = 1_000_000;
    const b = new TokenBucket({ capacity: 3, perSecond: 2 }, t0);
    expect(b.take(3, t0)).toBe(true);
    expect(b.take(1, t0)).toBe(false);
    expect(b.take(2, t0 + 500)).toBe(false); // one token back after 500 ms
    expect(b.take(1, t0 + 500)).toBe(true); // the refused take left it there
    expect(b.available(t0 + 60_000)).toBe(3);
  });

  it("an earlier timestamp refills nothing", () => {
    const b = new TokenBucket({ capacity: 2, perSecond: 1 }, 10_000);
    expect(b.take(2, 10_000)).toBe(true);
    expect(b.take(1, 5_000)).toBe(false);
  });
});
