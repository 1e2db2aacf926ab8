/**
 * Live alert rules on wallet and spend cap figures (SPEC §12: "Alerts see
 * `balance`, `available` and cap figures live"): evaluated by the engine
 * after the calls that change them, never inside a call.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { evaluateCustomer } from "../../src/engine/core/alerts/evaluate.js";
import { compileRules } from "../../src/engine/core/alerts/rules.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { Limitr } from "../../src/engine/index.js";
import { isBatchRule, isLiveRule } from "../../src/engine/runtime/live-alerts.js";

const policy = (alerts: string): CompiledPolicy =>
  compilePolicy(
    parse(`
limitr: 1
name: live-wallet
currency: USD
timezone: UTC
meters:
  tokens: { event: llm, aggregation: sum, property: tokens }
  images: { event: image, aggregation: count }
plans:
  payg:
    default: true
    wallet: { unit: USD, minimum: 1 }
    caps:
      daily: { amount: 2.00, period: day, entitlements: [images] }
    entitlements:
      chat: { meter: tokens, mode: prepaid, price: { model: per_unit, unit_price: 0.001 } }
      images: { meter: images, mode: soft, limit: 100, price: { model: per_unit, unit_price: 0.25 } }
  free:
    entitlements:
      chat: { meter: tokens, limit: 1000 }
customers:
  acme: { plan: payg, wallet: { opening_balance: 10 } }
  bob: { plan: free }
channels:
  ops: { type: webhook, url: "https://example.invalid/hook" }
alerts:
${alerts}
`) as Record<string, unknown>,
  );

const OCT = (day: number, hour = 12) => Date.UTC(2026, 9, day, hour);

interface Seen {
  kind: string;
  alert: string;
  customer: string;
  entitlement: string | null;
  variables: Record<string, unknown>;
}

let open: Limitr | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

async function engine(p: CompiledPolicy) {
  const l = await Limitr.open({ policy: p, store: "memory", durability: "sync" });
  open = l;
  const seen: Seen[] = [];
  l.on("alert", (e) => seen.push(e as Seen));
  return { l, seen };
}

describe("live alerts on wallet and cap figures", () => {
  it("available: fires once per customer (not per entitlement) when a debit takes it under the mark", async () => {
    const { l, seen } = await engine(
      policy(
        `  low: { when: "available < 3", channels: [ops] }\n  low-balance: { when: "balance <= 4", once: crossing, channels: [ops] }`,
      ),
    );
    // 10 - 1 reserve = 9 available; 5,000 tokens cost 5: 4 left.
    expect(l.allow("acme", "chat", 5000, { now: OCT(2) })).toBe(true);
    l.allow("acme", "images", 1, { now: OCT(2) });
    await l.flush();
    expect(seen).toHaveLength(0);
    l.allow("acme", "chat", 1500, { now: OCT(3) }); // balance 3.5, available 2.5
    l.allow("acme", "images", 1, { now: OCT(3) });
    await l.flush();
    expect(seen.map((s) => [s.alert, s.kind, s.entitlement])).toEqual([
      ["low", "triggered", null],
      ["low-balance", "triggered", null],
    ]);
    expect(seen[0]!.variables).toMatchObject({ available: 2.5, balance: 3.5, customer: "acme" });
    l.allow("acme", "chat", 100, { now: OCT(4) });
    await l.flush();
    expect(seen).toHaveLength(2); // once per period
    // A top-up lifts the balance; the next call re-evaluates and resolves the crossing rule.
    l.topUp("acme", "20", { id: "t1", now: OCT(5) });
    l.allow("acme", "chat", 100, { now: OCT(5) });
    await l.flush();
    expect(seen.map((s) => [s.alert, s.kind]).slice(2)).toEqual([["low-balance", "resolved"]]);
  });

  it("a customer without a wallet is left to the billing run's balance", async () => {
    const { l, seen } = await engine(policy(`  low: { when: "balance < 1", channels: [ops] }`));
    l.allow("bob", "chat", 10, { now: OCT(2) });
    await l.flush();
    expect(seen).toHaveLength(0);
  });

  it("cap_percent and cap_spend: the fullest cap counting the entitlement, live", async () => {
    const { l, seen } = await engine(
      policy(`  cap-80: { when: "cap_percent >= 80", entitlement: images, channels: [ops] }`),
    );
    l.allow("acme", "images", 6, { now: OCT(2) }); // 1.50 of 2.00: 75%
    await l.flush();
    expect(seen).toHaveLength(0);
    l.allow("acme", "images", 1, { now: OCT(2, 13) }); // 1.75: 87.5%
    await l.flush();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ alert: "cap-80", customer: "acme", entitlement: "images" });
    expect(seen[0]!.variables).toMatchObject({ cap_spend: 1.75, cap_percent: 87.5 });
    // The rule's state follows the entitlement's period (a month): a new cap day does not re-fire it.
    l.allow("acme", "images", 7, { now: OCT(3) });
    await l.flush();
    expect(seen).toHaveLength(1);
    expect(l.caps("acme", { now: OCT(3) })[0]).toMatchObject({ spent: "1.75", percent: 87.5 });
  });

  it("a whole-customer cap rule reads the customer's fullest cap; an uncapped entitlement's figure is null", async () => {
    const { l, seen } = await engine(
      policy(
        `  any-cap: { when: "cap_spend >= 1.0", channels: [ops] }\n  chat-cap: { when: "cap_percent > 0", entitlement: chat, channels: [ops] }`,
      ),
    );
    l.allow("acme", "images", 4, { now: OCT(2) });
    l.allow("acme", "chat", 10, { now: OCT(2) });
    await l.flush();
    expect(seen.map((s) => [s.alert, s.entitlement])).toEqual([["any-cap", null]]);
    expect(seen[0]!.variables).toMatchObject({ cap_spend: 1, cap_percent: 50 });
  });

  it("live and batch split the rules: wallet and cap rules are live, balance rules also batch for customers without a wallet", () => {
    const rules = compileRules(
      policy(
        [
          `  a: { when: "available < 3", channels: [ops] }`,
          `  b: { when: "balance < 3", channels: [ops] }`,
          `  c: { when: "cap_percent > 50", channels: [ops] }`,
          `  d: { when: "spend > 100", channels: [ops] }`,
        ].join("\n"),
      ),
    );
    const by = Object.fromEntries(rules.map((r) => [r.alert.id, [isLiveRule(r), isBatchRule(r)]]));
    expect(by).toEqual({ a: [true, true], b: [true, true], c: [true, false], d: [false, true] });
    // In a batch run a wallet customer's balance rules are skipped; the others see null wallet and cap figures.
    const base = {
      customer: "acme",
      plan: "payg",
      parent: null,
      metadata: {},
      spend: 0,
      cost: 0,
      marginPercent: 0,
      balance: 0,
      entitlements: [],
    };
    const window = { start: OCT(1), end: OCT(31) };
    expect(
      evaluateCustomer(rules, { ...base, walletLive: true }, window, OCT(2)).map((e) => e.rule.alert.id),
    ).toEqual(["c", "d"]);
    const other = evaluateCustomer(rules, base, window, OCT(2));
    expect(other.map((e) => [e.rule.alert.id, e.holds])).toEqual([
      ["a", false],
      ["b", true],
      ["c", false],
      ["d", false],
    ]);
  });
});
