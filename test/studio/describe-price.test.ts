import fc from "fast-check";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import type { ChargeModel, MeteredEntitlement } from "limitr-engine/core/model";
import { describePrice, formatAmount, formatCount } from "limitr-engine/core/rating/describe-price";
import { describe, expect, it } from "vitest";

const USD = { currency: "USD", digits: 2 };

describe("describePrice", () => {
  it("reads per-unit prices with free units the way a price page does", () => {
    const model: ChargeModel = { model: "per_unit", unitPrice: "0.04", freeUnits: 1000 };
    expect(describePrice(model, USD)).toBe("first 1,000 free, then $0.04 each");
    expect(describePrice({ ...model, freeUnits: 0 }, USD)).toBe("$0.04 each");
  });

  it("reads the example policy's overage, tiers, packages and percentages", () => {
    const policy = loadValidPolicy("policies");
    const price = (plan: string, ent: string) =>
      describePrice((policy.plans[plan]!.entitlements[ent] as MeteredEntitlement).price, USD);
    expect(price("pro", "chat_input")).toBe("first 2,000,000 free, then $0.000003 each");
    expect(price("pro", "mcp_search")).toBe("first 500 free, then $0.50 per 100 (part packs count as whole)");
    expect(price("enterprise", "chat_input")).toBe(
      "first 10,000,000 at $0.0000025 each, 10,000,001 to 100,000,000 at $0.000002 each, then $0.0000015 each",
    );
    expect(price("enterprise", "chat_output")).toBe(
      "up to 5,000,000 in total, every unit $0.00001 each; above that, every unit $0.000008 each plus $100.00 flat",
    );
    expect(price("enterprise", "agent_payments")).toBe(
      "first 3 events free, then 1% of the value plus $0.10 per event",
    );
    expect(price("free", "api")).toBe("not charged");
  });

  it("never rounds an amount and groups thousands", () => {
    expect(formatAmount("1200.5", USD)).toBe("$1,200.50");
    expect(formatAmount("0.000003", USD)).toBe("$0.000003");
    expect(formatAmount("12", { currency: "CHF", digits: 2 })).toBe("CHF 12.00");
    expect(formatCount(1234567)).toBe("1,234,567");
  });

  it("keeps every digit of any unit price and free allowance (property)", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10 ** 9 }),
        fc.nat({ max: 10 ** 6 }),
        fc.nat({ max: 8 }),
        (free, units, exp) => {
          const unitPrice = (units / 10 ** exp).toFixed(exp);
          const text = describePrice({ model: "per_unit", unitPrice, freeUnits: free }, USD);
          const amount = text.match(/\$([\d,.]+)/)?.[1]?.replaceAll(",", "");
          if (units === 0) expect(text).toMatch(/free$/);
          else expect(Number(amount)).toBe(Number(unitPrice));
          if (free > 0) expect(text.startsWith(`first ${formatCount(free)} free`)).toBe(true);
        },
      ),
    );
  });
});
