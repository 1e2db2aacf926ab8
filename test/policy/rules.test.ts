import { describe, expect, it } from "vitest";
import { codes, exampleFiles, validate, withBase } from "./helpers.js";

const plans = (body: string) => ({ "plans.yaml": `plans:\n${body}` });

describe("semantic rules", () => {
  it("the example policy has no diagnostics and compiles", () => {
    const r = validate(exampleFiles());
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.defaultPlan).toBe("free");
    expect(r.stats).toEqual({ files: 5, meters: 8, plans: 4, customers: 4, alerts: 4 });
  });

  it("policy/missing-version: some file must declare limitr: 1", () => {
    const r = validate({ "a.yaml": "name: x\n" });
    expect(codes(r.diagnostics)).toEqual(["policy/missing-version"]);
    expect(r.policy).toBeUndefined();
  });

  it("policy/duplicate-id: limitr declared twice names both files", () => {
    const r = withBase({ "b.yaml": "limitr: 1\n" });
    expect(r.diagnostics).toMatchObject([
      { code: "policy/duplicate-id", file: "b.yaml", line: 1, column: 1 },
    ]);
    expect(r.diagnostics[0]?.message).toContain("limitr.yaml:1:1");
  });

  it("policy/no-files: an empty directory is invalid", () => {
    expect(codes(validate({}).diagnostics)).toEqual(["policy/no-files"]);
  });

  it("policy/currency accepts any ISO 4217 code and suggests the closest for a typo", () => {
    expect(withBase({ "limitr.yaml": "limitr: 1\ncurrency: JPY\n" }).diagnostics).toEqual([]);
    const r = withBase({ "limitr.yaml": "limitr: 1\ncurrency: EUX\n" });
    expect(r.diagnostics).toMatchObject([{ code: "policy/currency", line: 2, column: 11 }]);
  });

  it("policy/timezone: IANA zones only", () => {
    expect(withBase({ "limitr.yaml": "limitr: 1\ntimezone: Asia/Kolkata\n" }).diagnostics).toEqual([]);
    expect(codes(withBase({ "limitr.yaml": "limitr: 1\ntimezone: Mars/Olympus\n" }).diagnostics)).toEqual([
      "policy/timezone",
    ]);
  });

  it("meter/property-required unless aggregation is count", () => {
    const r = withBase({
      "meters.yaml": "meters:\n  a: { aggregation: max }\n  b: { aggregation: count }\n  c: {}\n",
    });
    expect(r.diagnostics.map((d) => d.path)).toEqual(["meters.a", "meters.c"]);
    expect(new Set(codes(r.diagnostics))).toEqual(new Set(["meter/property-required"]));
  });

  it("ref/unknown-meter suggests the closest meter", () => {
    const r = withBase(plans("  p:\n    entitlements:\n      e: { meter: token }\n"));
    expect(r.diagnostics).toMatchObject([
      { code: "ref/unknown-meter", hint: 'did you mean "tokens"?', line: 4, column: 19 },
    ]);
  });

  it("feature flags need no meter and compile to flag entitlements (R2)", () => {
    const r = withBase(plans("  p:\n    entitlements:\n      sso: true\n      beta: false\n"));
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.plans.p?.entitlements.sso).toEqual({ kind: "flag", id: "sso", enabled: true });
  });

  it("plan/multiple-defaults: two defaults are an error, none is fine", () => {
    expect(withBase(plans("  a: {}\n  b: {}\n")).diagnostics).toEqual([]);
    const r = withBase(plans("  a: { default: true }\n  b: { default: true }\n  c: { default: true }\n"));
    expect(r.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "plan/multiple-defaults plans.b.default",
      "plan/multiple-defaults plans.c.default",
    ]);
  });

  it("customer/parent-cycle: reported once per cycle, self-parent included", () => {
    const r = withBase({
      "c.yaml":
        "customers:\n  a: { parent: b }\n  b: { parent: c }\n  c: { parent: a }\n  d: { parent: d }\n  e: { parent: a }\n",
    });
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      "customers.a is its own ancestor: a -> b -> c -> a",
      "customers.d is its own ancestor: d -> d",
    ]);
  });

  it("ref/unknown-plan and ref/unknown-customer on customers", () => {
    const r = withBase({ ...plans("  pro: {}\n"), "c.yaml": "customers:\n  a: { plan: por, parent: zz }\n" });
    expect(codes(r.diagnostics)).toEqual(["ref/unknown-plan", "ref/unknown-customer"]);
    expect(r.diagnostics[0]?.hint).toBe('did you mean "pro"?');
  });

  it("ref/unknown-entitlement: overrides and discounts must name an entitlement of the customer's plan", () => {
    const r = withBase({
      ...plans(
        "  pro:\n    entitlements:\n      chat: { meter: tokens, limit: 10 }\n  other:\n    entitlements:\n      gpu: { meter: tokens }\n",
      ),
      "c.yaml":
        "customers:\n  a:\n    plan: pro\n    overrides: { gpu: { limit: 5 }, chat: { limit: 20 } }\n    discounts:\n      - { entitlement: chta, percent: 10 }\n      - { percent: 5 }\n  b:\n    overrides: { gpu: { limit: 1 } }\n",
    });
    expect(r.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual([
      "ref/unknown-entitlement customers.a.overrides.gpu",
      "ref/unknown-entitlement customers.a.discounts[0].entitlement",
    ]);
    expect(r.diagnostics[1]?.hint).toBe('did you mean "chat"?');
  });

  it("override/flag-entitlement: a feature flag cannot be overridden", () => {
    const r = withBase({
      ...plans("  pro:\n    entitlements:\n      sso: true\n"),
      "c.yaml": "customers:\n  a:\n    plan: pro\n    overrides: { sso: { limit: 1 } }\n",
    });
    expect(codes(r.diagnostics)).toEqual(["override/flag-entitlement"]);
  });

  it("entitlement/overage-needs-limit, in plans and in overrides without a plan limit", () => {
    const r = withBase({
      ...plans(
        "  pro:\n    entitlements:\n      a: { meter: tokens, overage: 0.1 }\n      b: { meter: tokens, limit: 5, overage: 0.1 }\n      c: { meter: tokens }\n",
      ),
      "c.yaml":
        "customers:\n  x:\n    plan: pro\n    overrides: { b: { overage: 0.2 }, c: { overage: 0.2 } }\n",
    });
    expect(r.diagnostics.map((d) => `${d.file} ${d.path}`)).toEqual([
      "plans.yaml plans.pro.entitlements.a.overage",
      "c.yaml customers.x.overrides.c.overage",
    ]);
  });

  it("entitlement/price-and-overage: one or the other", () => {
    const r = withBase(
      plans(
        "  p:\n    entitlements:\n      a: { meter: tokens, limit: 5, overage: 0.1, price: { model: per_unit, unit_price: 1 } }\n",
      ),
    );
    expect(codes(r.diagnostics)).toEqual(["entitlement/price-and-overage"]);
  });

  it("tiers: strictly increasing up_to, only the last open, and the last must be open", () => {
    const tiers = (t: string) =>
      withBase(
        plans(
          `  p:\n    entitlements:\n      a: { meter: tokens, price: { model: volume, tiers: [${t}] } }\n`,
        ),
      );
    expect(tiers("{ up_to: 10, unit_price: 1 }, { unit_price: 0.5 }").diagnostics).toEqual([]);
    expect(
      codes(
        tiers("{ up_to: 10, unit_price: 1 }, { up_to: 10, unit_price: 1 }, { unit_price: 0.5 }").diagnostics,
      ),
    ).toEqual(["tiers/not-increasing"]);
    expect(
      codes(
        tiers("{ up_to: 10, unit_price: 1 }, { up_to: 5, unit_price: 1 }, { unit_price: 0.5 }").diagnostics,
      ),
    ).toEqual(["tiers/not-increasing"]);
    expect(codes(tiers("{ unit_price: 1 }, { up_to: 5, unit_price: 1 }").diagnostics)).toEqual([
      "tiers/open-tier-not-last",
      "tiers/last-tier-bounded",
    ]);
  });

  it("price/percentage-needs-sum warns on a count meter", () => {
    const r = withBase(
      plans("  p:\n    entitlements:\n      a: { meter: calls, price: { model: percentage, rate: 1 } }\n"),
    );
    expect(r.diagnostics).toMatchObject([{ code: "price/percentage-needs-sum", severity: "warning" }]);
    expect(r.policy).toBeDefined();
  });

  it("alert rules: CEL syntax, unknown variables, non-bool results, and every reference", () => {
    const alerts = (body: string) =>
      withBase({
        ...plans("  pro:\n    entitlements:\n      chat: { meter: tokens, limit: 10 }\n"),
        "a.yaml": `channels:\n  ops: { type: webhook, url: "\${URL}" }\nalerts:\n${body}`,
      });
    expect(
      alerts(
        '  a: { when: "usage_percent >= 80 && plan == \\"pro\\"", channels: [ops], entitlement: chat, plans: [pro] }\n',
      ).diagnostics,
    ).toEqual([]);
    expect(codes(alerts('  a: { when: "usage_percent >=", channels: [ops] }\n').diagnostics)).toEqual([
      "alert/cel-syntax",
    ]);
    const unknown = alerts("  a: { when: spnd > 10, channels: [ops] }\n").diagnostics;
    expect(unknown).toMatchObject([
      { code: "alert/cel-unknown-variable", hint: 'did you mean "spend"?', line: 4, column: 14 },
    ]);
    expect(codes(alerts("  a: { when: spend + 1, channels: [ops] }\n").diagnostics)).toEqual([
      "alert/cel-type",
    ]);
    const refs = alerts(
      "  a: { when: spend > 1, channels: [opz], entitlement: chta, plans: [pr], customers: [nobody] }\n",
    ).diagnostics;
    expect(codes(refs)).toEqual([
      "ref/unknown-channel",
      "ref/unknown-entitlement",
      "ref/unknown-plan",
      "ref/unknown-customer",
    ]);
  });

  it("channel/literal-secret: secrets and Slack URLs must be ${ENV} references; a plain https webhook is an address", () => {
    const r = withBase({
      "a.yaml": [
        "channels:",
        '  ok: { type: webhook, url: "https://ops.example/hook", secret: "${SECRET}" }',
        '  s: { type: slack, url: "https://hooks.slack.com/services/T0/B0/xyz" }',
        '  w: { type: webhook, url: "${URL}", secret: "hunter2" }',
        '  m: { type: email, url: "smtp://me:pw@mail.example", to: [a@b.example] }',
        "",
      ].join("\n"),
    });
    expect(r.diagnostics.map((d) => `${d.severity} ${d.code} ${d.path}`)).toEqual([
      "warning channel/literal-secret channels.s.url",
      "warning channel/literal-secret channels.w.secret",
      "warning channel/literal-secret channels.m.url",
    ]);
    expect(r.policy).toBeDefined();
  });

  it("policy/duplicate-id: the same id in two files names both locations", () => {
    const r = withBase({ "p1.yaml": "plans:\n  pro: {}\n", "p2.yaml": "plans:\n  team: {}\n  pro: {}\n" });
    expect(r.diagnostics).toMatchObject([
      { code: "policy/duplicate-id", file: "p2.yaml", line: 3, column: 3 },
    ]);
    expect(r.diagnostics[0]?.message).toBe("plans.pro is defined twice: p1.yaml:2:3 and p2.yaml:3:3");
  });

  it("fragments merge by section: entries from several files end up in one policy", () => {
    const r = withBase({
      "p1.yaml": "plans:\n  a: {}\n",
      "p2.yaml": "plans:\n  b: {}\n",
      "p3.yaml": "plans:\n",
    });
    expect(Object.keys(r.policy?.plans ?? {})).toEqual(["a", "b"]);
  });

  it("a value that fits none of a key's alternatives gets one error naming them all", () => {
    const grant = (every: string) =>
      withBase(plans(`  p:\n    wallet:\n      grant: { amount: 5, every: ${every} }\n`));
    for (const [every, got] of [
      ["null", "nothing"],
      ["fortnight", '"fortnight"'],
      ["3", "3"],
    ]) {
      const r = grant(every as string);
      expect(r.diagnostics.map((d) => [d.code, d.message, d.line])).toEqual([
        [
          "schema/any-of",
          `plans.p.wallet.grant.every must be one of day, week, month, quarter, year or an ISO-8601 duration (got ${got})`,
          4,
        ],
      ]);
    }
    expect(grant("P14D").diagnostics).toEqual([]);
  });

  it("a value with one alternative's shape gets that alternative's errors, not the others'", () => {
    const r = withBase({
      ...plans("  p: {}\n"),
      "customers.yaml": "customers:\n  acme:\n    plan: p\n    wallet:\n      grant: { every: month }\n",
    });
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ["schema/required", 'customers.acme.wallet.grant is missing required key "amount"'],
    ]);
  });

  it("rules still run next to schema errors, so one run reports both", () => {
    const r = withBase(plans("  p:\n    entitlements:\n      a: { meter: nope, limit: -1 }\n"));
    expect(codes(r.diagnostics)).toEqual(["ref/unknown-meter", "schema/minimum"]);
  });
});
