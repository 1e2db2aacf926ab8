import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";

/**
 * The runner's own conformance cases: each folder of fixtures/policy-tests is
 * a policy directory with tests and an expected.json (exit code, summary,
 * failures per case, located diagnostics).
 */
interface Expected {
  exitCode: number;
  summary?: Record<string, number>;
  failures?: Record<string, Record<string, unknown>[]>;
  diagnostics?: { file: string; line: number; column: number; message: string }[];
}

interface JsonReport {
  formatVersion: number;
  cases: { name: string; status: string; failures: Record<string, unknown>[] }[];
  diagnostics: { file: string; line: number; column: number; message: string }[];
  summary: Record<string, number>;
}

const ROOT = join(REPO, "fixtures", "policy-tests");
const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe("policy-test runner fixtures", () => {
  it.each(cases)("%s", async (name) => {
    const dir = `fixtures/policy-tests/${name}`;
    const expected = JSON.parse(readFileSync(join(ROOT, name, "expected.json"), "utf8")) as Expected;
    const r = await limitr(["test", "--policies", dir, "--format", "json"]);
    expect(r.exitCode).toBe(expected.exitCode);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.formatVersion).toBe(1);
    if (expected.summary) expect(report.summary).toEqual(expected.summary);
    for (const [caseName, failures] of Object.entries(expected.failures ?? {})) {
      const got = report.cases.find((c) => c.name === caseName);
      expect(got?.status).toBe("failed");
      expect(got?.failures).toEqual(failures);
    }
    for (const c of report.cases) {
      if (!expected.failures?.[c.name])
        expect({ name: c.name, status: c.status }).toEqual({ name: c.name, status: "passed" });
    }
    if (expected.diagnostics) {
      expect(report.cases).toEqual([]);
      expect(report.diagnostics).toHaveLength(expected.diagnostics.length);
      expected.diagnostics.forEach((d, i) => {
        const got = report.diagnostics[i];
        expect(got).toMatchObject({ file: `${dir}/${d.file}`, line: d.line, column: d.column });
        expect(got?.message).toContain(d.message);
      });
    }
  });
});

describe("limitr test text output", () => {
  it("names the failing case, the step's file:line and each mismatching field", async () => {
    const r = await limitr(["test", "--policies", "fixtures/policy-tests/wrong-expectation"]);
    expect(r.exitCode).toBe(4);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("ok   passes");
    expect(lines).toContain(
      "FAIL wrong-remaining-and-invoice (fixtures/policy-tests/wrong-expectation/tests/limits.yaml:7)",
    );
    expect(lines).toContain("  step 2 at fixtures/policy-tests/wrong-expectation/tests/limits.yaml:12");
    const at = lines.indexOf("    remaining (line 16)");
    expect(lines.slice(at + 1, at + 3)).toEqual(["      - expected 4", "      + got      3"]);
    expect(lines.at(-1)).toBe("1 passed, 1 failed");
  });

  it("reports a malformed test file as file:line:col diagnostics and runs nothing (exit 3)", async () => {
    const r = await limitr(["test", "--policies", "fixtures/policy-tests/malformed-shape"]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain(
      'fixtures/policy-tests/malformed-shape/tests/shape.yaml:6:9 error [test/invalid] unknown step key "expekt"',
    );
    expect(r.stdout).toContain('did you mean "expect"?');
    expect(r.stdout).not.toContain("ok ");
  });

  it("--filter runs only the cases whose name contains the text", async () => {
    const r = await limitr([
      "test",
      "--policies",
      "fixtures/policy-tests/wrong-expectation",
      "--filter",
      "pass",
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split("\n")).toEqual(["ok   passes", "", "1 passed, 0 failed"]);
  });
});
