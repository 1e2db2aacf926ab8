import { describe, expect, it } from "vitest";
import { dec } from "../../src/engine/core/money.js";
import { parsePeriod } from "../../src/engine/core/periods.js";
import { storedInvoice, withAdjustment } from "../../src/engine/core/rating/adjustments.js";
import { type BilledInvoice, billPriced, type NumberedInput } from "../../src/engine/core/rating/bill.js";
import { customerPlans } from "../../src/engine/core/rating/customers.js";
import { memoryLookup, policyFrom, type TestEvent } from "./helpers.js";

const policyAt = (fee: number, unit: number, minimum = 0) =>
  policyFrom(`
limitr: 1
name: v
currency: USD
timezone: UTC
meters:
  calls: { event: api.request, aggregation: count }
plans:
  pro:
    default: true
    price: ${fee}
    minimum: ${minimum}
    entitlements:
      api: { meter: calls, price: { model: graduated, tiers: [ { up_to: 10, unit_price: 0 }, { unit_price: ${unit} } ] } }
customers:
  acme: { plan: pro, since: 2026-01-01 }
`);

const OCT = parsePeriod("2026-10", "UTC") as NonNullable<ReturnType<typeof parsePeriod>>;
const SWITCH = Date.parse("2026-10-11T06:00:00Z");
const events: TestEvent[] = Array.from({ length: 40 }, (_, k) => ({
  type: "api.request",
  customer: "acme",
  // 20 events on Oct 1-10 (before the switch instant), 20 from the switch on.
  ts: k < 20 ? Date.parse(`2026-10-${String(1 + (k % 10)).padStart(2, "0")}T12:00:00Z`) : SWITCH + k * 60_000,
}));

function rate(v1: ReturnType<typeof policyAt>, v2: ReturnType<typeof policyAt>): BilledInvoice {
  const plans = customerPlans(v2, "acme", []);
  if (!plans) throw new Error("no plan");
  const input: NumberedInput = {
    seq: 1,
    customer: "acme",
    contract: v2.customers.acme ?? null,
    changes: plans.changes,
    since: plans.since,
    trialStart: plans.trialStart,
    credits: [],
  };
  const pricings = [
    { policy: v1, start: OCT.start, end: SWITCH, version: 1, digest: "sha256:1", label: "policy v1" },
    { policy: v2, start: SWITCH, end: OCT.end, version: 2, digest: "sha256:2", label: "policy v2" },
  ].map((p) => ({ ...p, lookup: memoryLookup(p.policy, events) }));
  const invoice = billPriced(OCT, [input], pricings).invoices[0];
  if (!invoice) throw new Error("no invoice");
  return invoice;
}

const summary = (inv: BilledInvoice) => inv.lines.map((l) => [l.kind, l.quantity, l.amount.toFixed(2)]);

describe("SPEC §15 rating across versions (pure)", () => {
  it("a version that changes only a usage price leaves the fee alone; each version's share restarts the tiers", () => {
    const inv = rate(policyAt(31, 0.1), policyAt(31, 0.2));
    expect(summary(inv)).toEqual([
      ["subscription", null, "31.00"],
      // 20 calls under v1: 10 free then 10 x 0.10; 20 under v2: 10 free again then 10 x 0.20.
      ["usage", "20", "1.00"],
      ["usage", "20", "2.00"],
    ]);
    expect(inv.total.toFixed(2)).toBe("34.00");
  });

  it("a fee or minimum change is prorated from the start of the switch day (R11), usage split at the instant", () => {
    const inv = rate(policyAt(31, 0.1), policyAt(62, 0.1, 100));
    expect(summary(inv)).toEqual([
      ["subscription", null, "31.00"],
      ["proration", null, "-21.00"], // 21/31 days (Oct 11-31) of the old fee
      ["proration", null, "42.00"], // 21/31 days of the new fee
      ["usage", "20", "1.00"],
      ["usage", "20", "1.00"],
      // minimum 100 prorated to 21/31 days = 67.74..., charges 54.00: topped up.
      ["minimum", null, "13.74"],
    ]);
  });
});

describe("SPEC §15 adjustments (pure)", () => {
  const v = policyAt(31, 0.1);
  const pushed = rate(v, v);
  const stored = [
    { number: pushed.number, adjusts: pushed.number, pushedAt: 1, invoice: storedInvoice(pushed, 2, "UTC") },
  ];

  it("nothing changed: the pushed invoice alone, as pushed", () => {
    const out = withAdjustment(rate(v, v), stored, 0);
    expect(out.map((i) => [i.number, i.total.toFixed(2), i.pushedAt])).toEqual([[pushed.number, "33.00", 1]]);
  });

  it("a customer with nothing left to bill: every pushed line is reversed by the adjustment", () => {
    const [original, adjustment] = withAdjustment(undefined, stored, 0);
    expect(original?.total.toFixed(2)).toBe("33.00");
    expect(adjustment?.number).toBe(`${pushed.number}-A1`);
    expect(adjustment?.lines.map((l) => [l.kind, l.amount.toFixed(2)])).toEqual([
      ["subscription", "-31.00"],
      ["usage", "-1.00"],
      ["usage", "-1.00"],
    ]);
    expect(adjustment?.total).toEqual(dec(-33));
  });
});
