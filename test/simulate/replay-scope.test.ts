import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { unchangedEnforcement } from "../../src/engine/core/simulate/replay-scope.js";

/**
 * Three hard limits: `a` and `b` count the same event type (`x`), so one
 * event is counted on both or on neither (R4); `c` counts `y` alone.
 */
// biome-ignore lint/suspicious/noExplicitAny: tests edit the raw policy source freely
type Raw = Record<string, any>;

function policy(change: (p: Raw) => void = () => {}) {
  const raw: Raw = {
    limitr: 1,
    name: "scope",
    meters: {
      m_a: { event: "x", aggregation: "count" },
      m_b: { event: "x", aggregation: "sum", property: "n" },
      m_c: { event: "y", aggregation: "count" },
    },
    plans: {
      free: {
        default: true,
        price: 0,
        entitlements: {
          a: { meter: "m_a", limit: 10, period: "month", mode: "hard" },
          b: { meter: "m_b", limit: 5, period: "month", mode: "hard" },
          c: {
            meter: "m_c",
            limit: 3,
            period: "month",
            mode: "hard",
            price: { model: "per_unit", unit_price: 0.5 },
          },
        },
      },
    },
    customers: { acme: { plan: "free" } },
  };
  change(raw);
  return compilePolicy(raw);
}

const sorted = (s: Set<string>) => [...s].sort();

describe("unchangedEnforcement", () => {
  it("skips every limit of an identical policy, and a limit whose price alone changed", () => {
    expect(sorted(unchangedEnforcement(policy(), policy()))).toEqual(["a", "b", "c"]);
    const pricier = policy((p) => (p.plans.free.entitlements.c.price.unit_price = 0.75));
    expect(sorted(unchangedEnforcement(policy(), pricier))).toEqual(["a", "b", "c"]);
  });

  it("replays a changed limit and every limit the same event type ties to it", () => {
    const lower = policy((p) => (p.plans.free.entitlements.b.limit = 4));
    expect(sorted(unchangedEnforcement(policy(), lower))).toEqual(["c"]);
    const soft = policy((p) => (p.plans.free.entitlements.c.mode = "soft"));
    expect(sorted(unchangedEnforcement(policy(), soft))).toEqual(["a", "b"]);
  });

  it("replays limits whose meter, period or contract override changed", () => {
    const filtered = policy((p) => (p.meters.m_c.where = { region: ["eu"] }));
    expect(sorted(unchangedEnforcement(policy(), filtered))).toEqual(["a", "b"]);
    const daily = policy((p) => (p.plans.free.entitlements.a.period = "day"));
    expect(sorted(unchangedEnforcement(policy(), daily))).toEqual(["c"]);
    const override = policy((p) => (p.customers.acme.overrides = { c: { limit: 100 } }));
    expect(sorted(unchangedEnforcement(policy(), override))).toEqual(["a", "b"]);
  });

  it("replays everything when who is on which plan changes", () => {
    const moved = policy((p) => {
      p.plans.team = { price: 10, entitlements: p.plans.free.entitlements };
      p.customers.acme.plan = "team";
    });
    expect(sorted(unchangedEnforcement(policy(), moved))).toEqual([]);
  });

  it("replays a capped limit once the price its cap counts changes, not before", () => {
    const capped = (price: number) =>
      policy((p) => {
        p.plans.free.caps = { spend: { amount: 1, period: "day", entitlements: ["c"] } };
        p.plans.free.entitlements.c.price.unit_price = price;
      });
    expect(sorted(unchangedEnforcement(capped(0.5), capped(0.5)))).toEqual(["a", "b", "c"]);
    expect(sorted(unchangedEnforcement(capped(0.5), capped(0.75)))).toEqual(["a", "b"]);
    // Adding the cap changes what refuses c.
    expect(sorted(unchangedEnforcement(policy(), capped(0.5)))).toEqual(["a", "b"]);
  });

  it("ties the entitlements of one cap together, and ignores prices of plans no money term reaches", () => {
    const capped = (bPrice: number, contractPrice: number) =>
      policy((p) => {
        // A cap over c (events y) and b (events x): b's price moves the cap's spend, which can refuse c.
        p.plans.free.caps = { spend: { amount: 1, period: "day", entitlements: ["b", "c"] } };
        p.plans.free.entitlements.b.price = { model: "per_unit", unit_price: bPrice };
        p.plans.team = {
          price: 10,
          entitlements: {
            c: {
              meter: "m_c",
              limit: 3,
              period: "month",
              mode: "soft",
              price: { model: "per_unit", unit_price: 1 },
            },
          },
        };
        p.customers.acme.plan = "team";
        p.customers.acme.overrides = { c: { price: { model: "per_unit", unit_price: contractPrice } } };
      });
    expect(sorted(unchangedEnforcement(capped(0.1, 2), capped(0.2, 2)))).toEqual([]);
    // The contract's plan has no cap or wallet: its price is no money term of c.
    expect(sorted(unchangedEnforcement(capped(0.1, 2), capped(0.1, 3)))).toEqual(["a", "b", "c"]);
  });
});
