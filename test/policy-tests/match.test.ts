import { describe, expect, it } from "vitest";
import { Decimal } from "../../src/engine/core/money.js";
import { matchFields } from "../../src/engine/core/policy-tests/match.js";
import type { ExpectedField } from "../../src/engine/core/policy-tests/model.js";
import { parseTestFile } from "../../src/engine/core/policy-tests/parse.js";

/** The `expect:` fields of the first step of a one-case test file. */
function expectation(yaml: string): ExpectedField[] {
  const text = `tests:\n  t:\n    steps:\n      - at: 2026-10-01T00:00:00Z\n        call: { customer: a, entitlement: e }\n        expect: ${yaml}\n`;
  const parsed = parseTestFile({ path: "t.yaml", text });
  expect(parsed.diagnostics).toEqual([]);
  return parsed.cases[0]?.steps[0]?.expect ?? [];
}

const fieldsOf = (yaml: string, got: Record<string, unknown>) =>
  matchFields(expectation(yaml), got, "America/New_York").map((m) => m.field);

describe("expectation matching", () => {
  it("compares only the listed fields", () => {
    expect(fieldsOf("{ allowed: true }", { allowed: true, remaining: 3, reason: "ok" })).toEqual([]);
  });

  it("compares money as exact decimals: 49 equals 49.00 and '0.1' is not 0.1000000001", () => {
    expect(fieldsOf('{ price: "49" }', { price: "49.00" })).toEqual([]);
    expect(fieldsOf("{ price: 49.00 }", { price: new Decimal("49") })).toEqual([]);
    expect(fieldsOf('{ price: "0.1" }', { price: "0.1000000001" })).toEqual(["price"]);
    // A float would round this price to 0.3; its written digits are kept.
    expect(fieldsOf("{ price: 0.30000000000000001 }", { price: "0.3" })).toEqual(["price"]);
  });

  it("compares counters as numbers within the engine's 1e-9", () => {
    expect(fieldsOf("{ used: 0.3 }", { used: 0.1 + 0.2 })).toEqual([]);
    expect(fieldsOf("{ used: 1000 }", { used: 1001 })).toEqual(["used"]);
    expect(fieldsOf("{ used: 1000 }", { used: "1000" })).toEqual(["used"]);
  });

  it("null expects an unlimited (null) value", () => {
    expect(fieldsOf("{ limit: null }", { limit: null })).toEqual([]);
    expect(fieldsOf("{ limit: null }", { limit: 5 })).toEqual(["limit"]);
  });

  it("compares instants as instants, whatever the offset they are written in", () => {
    const midnight = Date.UTC(2026, 9, 6, 4); // 2026-10-06T00:00 in New York (EDT)
    expect(fieldsOf('{ resetsAt: "2026-10-06T04:00:00Z" }', { resetsAt: midnight })).toEqual([]);
    expect(fieldsOf('{ resetsAt: "2026-10-06T00:00:00-04:00" }', { resetsAt: midnight })).toEqual([]);
    const [m] = matchFields(
      expectation('{ resetsAt: "2026-10-06T00:00:00Z" }'),
      { resetsAt: midnight },
      "America/New_York",
    );
    expect(m).toMatchObject({ field: "resetsAt", got: "2026-10-06T00:00:00.000-04:00" });
  });

  it("reports the expected value as written and the value got, with the expectation's line", () => {
    const [m] = matchFields(
      expectation("{ reason: ok, allowed: true }"),
      { reason: "limit_exceeded", allowed: true },
      "UTC",
    );
    expect(m).toEqual({ field: "reason", line: 6, expected: "ok", got: "limit_exceeded" });
  });
});

describe("test file parsing", () => {
  it("locates each case and step by line", () => {
    const text = [
      "tests:",
      "  first:",
      "    description: two steps",
      "    customers: { ann: { plan: free, at: 2026-10-01 } }",
      "    steps:",
      "      - at: 2026-10-02T10:00:00Z",
      "        call: { customer: ann, entitlement: api, amount: 3 }",
      "      - at: 2026-10-02T10:00:00Z",
      "        event: { type: api.request, customer: ann, id: e1 }",
      "        repeat: 3",
      "        every: 2s",
    ].join("\n");
    const { cases, diagnostics } = parseTestFile({ path: "t.yaml", text });
    expect(diagnostics).toEqual([]);
    expect(cases).toHaveLength(1);
    const c = cases[0];
    expect(c).toMatchObject({ name: "first", line: 2, description: "two steps" });
    expect(c?.customers).toEqual([{ id: "ann", plan: "free", at: "2026-10-01", line: 4 }]);
    expect(c?.steps.map((s) => [s.index, s.line, s.action.kind, s.repeat, s.everyMs])).toEqual([
      [1, 6, "call", 1, 0],
      [2, 8, "event", 3, 2000],
    ]);
  });

  it("rejects a file without a tests map, at line 1", () => {
    const { diagnostics } = parseTestFile({ path: "t.yaml", text: "cases: {}\n" });
    expect(diagnostics.map((d) => [d.line, d.message])).toContainEqual([
      1,
      "a test file needs a `tests:` map of named cases",
    ]);
  });

  it("explains a file that is a list instead of a map", () => {
    const { diagnostics } = parseTestFile({ path: "t.yaml", text: "- at: 2026-10-01\n" });
    expect(diagnostics.map((d) => [d.code, d.line, d.message])).toEqual([
      ["yaml/not-a-map", 1, "a test file must be a map with one key, `tests:`"],
    ]);
  });

  it("rejects unknown invoice fields and line fields with their position", () => {
    const text = [
      "tests:",
      "  t:",
      "    invoice:",
      "      period: 2026-10",
      "      expect:",
      "        ann: { totl: 5 }",
      "        bob: { lines: { api: { amont: 1 } } }",
    ].join("\n");
    const { diagnostics } = parseTestFile({ path: "t.yaml", text });
    expect(diagnostics.map((d) => [d.line, d.column, d.hint])).toEqual([
      [6, 16, 'did you mean "total"?'],
      [7, 32, 'did you mean "amount"?'],
    ]);
  });
});
