import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { summaryLines, TARGETS, type Target, verdicts, verdictTable } from "../../bench/targets.js";

const target = (over: Partial<Target>): Target => ({
  figure: "f",
  suite: "s",
  key: "k",
  goal: { min: 2 },
  unit: "x",
  ...over,
});

describe("bench targets", () => {
  it("judges each goal kind against the suite's figure and reports its baseline from the same line", () => {
    const lines = [{ bench: "s", results: { k: 2, low: 0.7, p99: 999, base: 5e6, nested: { r: 0.25 } } }];
    const v = verdicts(lines, [
      target({ baseline: "base" }),
      target({ key: "low", goal: { min: 0.8 } }),
      target({ key: "p99", goal: { below: 1000 }, unit: "ns" }),
      target({ key: "nested.r", goal: { max: 0.25 } }),
      target({ key: "nested.r", goal: { below: 0.25 } }),
    ]);
    expect(v.map((x) => x.met)).toEqual([true, false, true, true, false]);
    expect(v[0]).toMatchObject({ value: 2, baseline: { key: "base", value: 5e6 }, goal: ">= 2 x" });
    expect(v[2]?.goal).toBe("< 1000 ns");
    expect(v[3]?.goal).toBe("<= 0.25 x");
  });

  it("says why a target has no verdict: suite not run, skipped, or figure absent (null, non-number)", () => {
    const lines = [
      { bench: "skipped", skipped: "no Redis at redis://127.0.0.1:6379/0" },
      { bench: "s", results: { k: null, text: "1.5" } },
    ];
    const v = verdicts(lines, [
      target({ suite: "absent" }),
      target({ suite: "skipped" }),
      target({}),
      target({ key: "text" }),
      target({ key: "duck", absent: "optional: install it" }),
    ]);
    expect(v.map((x) => x.met)).toEqual([null, null, null, null, null]);
    expect(v.map((x) => x.note)).toEqual([
      "suite not run",
      "suite skipped: no Redis at redis://127.0.0.1:6379/0",
      "no figure k in this run",
      "no figure text in this run",
      "optional: install it",
    ]);
    const table = verdictTable(v).split("\n");
    expect(table).toHaveLength(5);
    expect(table[4]).toMatch(/^- +f +- +>= 2 x +optional: install it$/);
  });

  it("takes the summary lines out of a suite's output and ignores the rest", () => {
    const out = [
      "warming up",
      '{"bench":"engine","results":{"allow_vs_reference":1.06}}',
      '{"bench": broken',
      '{"other":1}',
      '{"bench":"shared","skipped":"no Redis"}',
    ].join("\n");
    expect(summaryLines(out)).toEqual([
      { bench: "engine", results: { allow_vs_reference: 1.06 } },
      { bench: "shared", skipped: "no Redis" },
    ]);
  });

  it("names suites that exist, and each figure once", () => {
    for (const t of TARGETS)
      expect(existsSync(new URL(`../../bench/${t.suite}.bench.ts`, import.meta.url)), t.suite).toBe(true);
    const keys = TARGETS.map((t) => `${t.suite}:${t.key}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
