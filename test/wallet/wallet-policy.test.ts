/**
 * Wallets in the policy format (SPEC §12): schema, located semantic rules,
 * compiled model (opening balance and overrides), and which wallet changes
 * the semantic diff calls breaking.
 */
import { describe, expect, it } from "vitest";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { effectiveWallet } from "../../src/engine/core/wallet/compile.js";
import { codes, withBase } from "../policy/helpers.js";

const payg = (wallet: string, mode = "prepaid", customers = "") =>
  withBase({
    "plans.yaml": [
      "plans:",
      "  payg:",
      "    default: true",
      ...(wallet === "" ? [] : [`    wallet: ${wallet}`]),
      "    entitlements:",
      `      chat: { meter: tokens, mode: ${mode}, price: { model: per_unit, unit_price: 0.001 } }`,
      "      api: { meter: calls, limit: 10 }",
      customers,
    ].join("\n"),
  });

const compiled = (wallet: string, customers = ""): CompiledPolicy => {
  const r = payg(wallet, "prepaid", customers);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.policy as CompiledPolicy;
};

describe("wallets in the policy format", () => {
  it("compiles a plan wallet with defaults, and a contract's opening balance and overrides", () => {
    const p = compiled(
      "{ grant: { amount: 100, every: month, rollover: { max: 30 }, expires_after: P90D }, minimum: 5 }",
      "customers:\n  acme: { plan: payg, wallet: { opening_balance: 250.5, minimum: 0, grant: null } }\n",
    );
    expect(p.plans.payg?.wallet).toEqual({
      unit: "USD",
      minimum: "5",
      grant: { amount: "100", every: "month", rollover: { max: "30" }, expiresAfter: "P90D", priority: 0 },
    });
    expect(effectiveWallet(p, "payg", "acme")).toEqual({
      unit: "USD",
      minimum: "0",
      grant: null,
      openingBalance: "250.5",
    });
    expect(effectiveWallet(p, "payg", "someone")?.minimum).toBe("5");
    // A plan without a wallet compiles without the key: existing policies keep their digest.
    expect("wallet" in (compiled("{}").plans.payg ?? {})).toBe(true);
    expect(
      "wallet" in (withBase({ "plans.yaml": "plans:\n  p: { entitlements: {} }\n" }).policy?.plans.p ?? {}),
    ).toBe(false);
  });

  it("wallet/prepaid-without-wallet: a prepaid entitlement needs a wallet, located at its mode", () => {
    const r = payg("");
    expect(codes(r.diagnostics)).toEqual(["wallet/prepaid-without-wallet"]);
    expect(r.diagnostics[0]).toMatchObject({
      file: "plans.yaml",
      line: 5,
      path: "plans.payg.entitlements.chat.mode",
    });
    // A contract on the plan that brings its own wallet is enough.
    const withContract = payg(
      "",
      "prepaid",
      "customers:\n  acme: { plan: payg, wallet: { opening_balance: 5 } }\n",
    );
    expect(codes(withContract.diagnostics)).toEqual([]);
  });

  it("wallet/prepaid-unrated: a credit wallet must rate a prepaid entitlement's meter, located at its meter", () => {
    const policy = (rates: string) =>
      withBase({
        "credits.yaml": `credit_units:\n  credits:\n    value: 0.01\n    rates: { ${rates} }\n`,
        "plans.yaml": [
          "plans:",
          "  payg:",
          "    default: true",
          "    wallet: { unit: credits }",
          "    entitlements:",
          "      chat: { meter: tokens, mode: prepaid }",
          "      credit_chat: { meter: credits, mode: prepaid }",
        ].join("\n"),
      });
    const r = policy("calls: 1");
    expect(codes(r.diagnostics)).toEqual(["wallet/prepaid-unrated"]);
    expect(r.diagnostics[0]).toMatchObject({
      file: "plans.yaml",
      line: 6,
      path: "plans.payg.entitlements.chat.meter",
    });
    expect(codes(policy("tokens: { rates: {}, by: model, default: 0.5, per: 1000 }").diagnostics)).toEqual(
      [],
    );
  });

  it("schema: unknown wallet fields and bad durations are located errors", () => {
    const r = payg("{ grant: { amount: 1, every: fortnight }, minimun: 1 }");
    expect(r.diagnostics.every((d) => d.severity === "error" && d.file === "plans.yaml")).toBe(true);
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(2);
    expect(codes(payg("{ grant: { amount: 1, every: P0D } }").diagnostics)).toEqual(["wallet/zero-duration"]);
    expect(payg("{ grant: { amount: 1, every: P2W, expires_after: P1M } }").diagnostics).toEqual([]);
  });

  it("diff: a raised minimum, a lowered grant and a removed wallet are breaking; a raised grant is not", () => {
    const base = compiled("{ grant: { amount: 100, every: month }, minimum: 5 }");
    const verdict = (wallet: string) =>
      diffPolicies(base, compiled(wallet)).changes.map((c) => ({ path: c.path, breaking: c.breaking }));
    expect(verdict("{ grant: { amount: 100, every: month }, minimum: 6 }")).toEqual([
      { path: "plans.payg.wallet.minimum", breaking: true },
    ]);
    expect(verdict("{ grant: { amount: 90, every: month }, minimum: 5 }")).toEqual([
      { path: "plans.payg.wallet.grant.amount", breaking: true },
    ]);
    expect(verdict("{ grant: { amount: 110, every: month }, minimum: 5 }")).toEqual([
      { path: "plans.payg.wallet.grant.amount", breaking: false },
    ]);
    const removed = diffPolicies(base, compiled("{ minimum: 5 }")).changes;
    expect(removed.some((c) => c.breaking)).toBe(true);
  });
});
