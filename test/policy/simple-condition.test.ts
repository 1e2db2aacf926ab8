import { Environment } from "@marcbachmann/cel-js";
import { describe, expect, it } from "vitest";
import { ALERT_VARIABLES, checkRule, isSimpleRule } from "../../src/engine/core/alerts/rules.js";

/** CEL's own answer, in an environment of its own (the engine's is loaded lazily). */
const cel = new Environment({ homogeneousAggregateLiterals: false });
for (const [name, type] of Object.entries(ALERT_VARIABLES)) cel.registerVariable(name, type);
const celSaysBool = (expression: string) => {
  const r = cel.check(expression) as { valid: boolean; type?: string };
  return r.valid && (r.type === "bool" || r.type === "dyn");
};

const variables = Object.keys(ALERT_VARIABLES);
const operators = ["<", "<=", ">", ">=", "==", "!="];
const literals = [
  "0",
  "80",
  "100",
  "1000",
  "80.5",
  "0.25",
  "1000000",
  '"pro"',
  "'pro'",
  '""',
  '"é ñ"',
  '"it\'s"',
];

/** Every variable against every operator and literal, with and without spaces. */
function terms(): string[] {
  const out: string[] = [];
  for (const v of variables)
    for (const op of operators)
      for (const lit of literals) {
        out.push(`${v} ${op} ${lit}`);
        out.push(`${v}${op}${lit}`);
      }
  return out;
}

describe("simple alert conditions: the shape whose CEL type check is known without CEL", () => {
  it("every simple comparison is one CEL finds a valid condition", () => {
    const simple = terms().filter(isSimpleRule);
    // The common forms are simple (else the fast path buys nothing).
    expect(simple).toContain("usage_percent >= 80");
    expect(simple).toContain('plan == "pro"');
    expect(simple).toContain("spend > 1000");
    expect(simple.length).toBeGreaterThan(200);
    for (const e of simple) expect([e, celSaysBool(e)]).toEqual([e, true]);
  });

  it("a simple comparison stays simple, and valid, joined with others by && and ||", () => {
    const simple = terms().filter(isSimpleRule);
    for (let i = 0; i + 2 < simple.length; i += 7) {
      const e = `${simple[i]} && ${simple[i + 1]} || ${simple[i + 2]}`;
      expect([e, isSimpleRule(e), celSaysBool(e)]).toEqual([e, true, true]);
    }
  });

  it("forms CEL rejects or types otherwise are never simple", () => {
    const rejected = terms().filter((e) => !celSaysBool(e));
    // double == int, string == number, number == string...
    expect(rejected).toContain("usage_percent == 80");
    expect(rejected).toContain("plan == 80");
    for (const e of rejected) expect([e, isSimpleRule(e)]).toEqual([e, false]);
  });

  it("anything but a comparison of a known variable with a plain literal is left to CEL", () => {
    for (const e of [
      "usage_percent",
      "usage_percent >= 1.",
      "usage_percent >= .5",
      "usage_percent >= 1e3",
      "usage_percent >= 80u",
      "usage_percent >= -80",
      "usage_percent >= 0x10",
      "usage_percent >= 080",
      "usage_percent\n>= 80",
      "(usage_percent >= 80)",
      "!(usage_percent >= 80)",
      "usage_percent + 1 >= 80",
      "80 <= usage_percent",
      "usage_pct >= 80",
      "limit >= 80",
      "limit == null",
      "metadata.tier == 'gold'",
      'plan == r"pro"',
      'plan == "a\\"b"',
      'plan == "a&&b"',
      'plan == "a" &&',
      "&& plan == 'a'",
      'plan in ["pro"]',
      `${Array(17).fill("spend > 1").join(" && ")}`,
    ])
      expect([e, isSimpleRule(e)]).toEqual([e, false]);
  });

  it("checkRule answers a simple condition as CEL does, and still reports the others", () => {
    expect(checkRule("usage_percent >= 80 && plan == 'pro'")).toBeNull();
    expect(checkRule("usage_percent == 80")).toMatchObject({ kind: "type" });
    expect(checkRule("usage_percent >=")).toMatchObject({ kind: "syntax" });
  });
});
