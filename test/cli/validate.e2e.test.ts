import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limitr, REPO } from "./run-cli.js";

interface Expected {
  code: string;
  file: string;
  line: number;
  column: number;
  hint?: string;
  path?: string;
  severity?: "error" | "warning";
  messageIncludes?: string;
}

interface JsonReport {
  formatVersion: number;
  valid: boolean;
  diagnostics: (Expected & { message: string })[];
  summary: { errors: number; warnings: number; files: number };
}

const FIXTURES = join(REPO, "fixtures", "invalid");
const cases = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function expectations(name: string): Expected[] {
  const raw = JSON.parse(readFileSync(join(FIXTURES, name, "expected.json"), "utf8")) as
    | Expected
    | { diagnostics: Expected[] };
  return "diagnostics" in raw ? raw.diagnostics : [raw];
}

describe("limitr validate on fixtures/invalid", () => {
  it("has at least 20 single-problem cases and one with several problems", () => {
    expect(cases.filter((c) => expectations(c).length === 1).length).toBeGreaterThanOrEqual(20);
    expect(cases.some((c) => expectations(c).length > 1)).toBe(true);
  });

  for (const name of cases) {
    const expected = expectations(name);
    const warningsOnly = expected.every((e) => e.severity === "warning");
    it(`${name}: reports ${expected.map((e) => e.code).join(", ")} at the offending line and column`, async () => {
      const dir = join(FIXTURES, name);
      const r = await limitr(["validate", "--policies", "policies", "--format", "json"], dir);
      expect(r.exitCode).toBe(warningsOnly ? 0 : 3);
      const report = JSON.parse(r.stdout) as JsonReport;
      expect(report.formatVersion).toBe(1);
      expect(report.valid).toBe(warningsOnly);
      for (const e of expected) {
        const hit = report.diagnostics.find(
          (d) => d.code === e.code && d.file === e.file && d.line === e.line,
        );
        expect(
          hit,
          `${e.code} at ${e.file}:${e.line} in ${JSON.stringify(report.diagnostics, null, 1)}`,
        ).toBeDefined();
        expect(hit?.column).toBe(e.column);
        expect(hit?.severity).toBe(e.severity ?? "error");
        if (e.hint) expect(hit?.hint).toBe(e.hint);
        if (e.path) expect(hit?.path).toBe(e.path);
        if (e.messageIncludes) expect(hit?.message).toContain(e.messageIncludes);
      }
      if (expected.length === 1) expect(report.diagnostics).toHaveLength(1);
      else expect(report.summary.errors).toBe(expected.length);
    });
  }

  it("literal-secret: a warning passes normally and fails with --strict", async () => {
    const dir = join(FIXTURES, "literal-secret");
    expect((await limitr(["validate", "--policies", "policies"], dir)).exitCode).toBe(0);
    const strict = await limitr(["validate", "--policies", "policies", "--strict", "--format", "json"], dir);
    expect(strict.exitCode).toBe(3);
    expect((JSON.parse(strict.stdout) as JsonReport).valid).toBe(false);
  });
});

describe("limitr validate output", () => {
  it("the example policies/ are valid: exit 0, one summary line, nothing on stderr", async () => {
    const r = await limitr(["validate"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe("policies/ is valid (5 files, 8 meters, 4 plans, 4 customers, 4 alerts)");
    expect(r.stderr).toBe("");
  });

  it("text format: one SPEC §5 line per problem, the hint indented below, then a summary", async () => {
    const r = await limitr(["validate", "--policies", "policies"], join(FIXTURES, "negative-limit"));
    expect(r.exitCode).toBe(3);
    expect(r.stdout.split("\n")).toEqual([
      "policies/plans.yaml:12:16 error [schema/minimum] plans.pro.entitlements.chat.limit must be >= 0 (got -5)",
      "1 error, 0 warnings in 5 files",
    ]);
    const hinted = await limitr(["validate", "--policies", "policies"], join(FIXTURES, "unknown-meter"));
    expect(hinted.stdout.split("\n").slice(0, 2)).toEqual([
      'policies/plans.yaml:15:21 error [ref/unknown-meter] plans.pro.entitlements.api uses meter "cals", which is not defined',
      '    did you mean "calls"?',
    ]);
  });

  it("github format: workflow commands with file, line, col and the code as title", async () => {
    const r = await limitr(
      ["validate", "--policies", "policies", "--format", "github"],
      join(FIXTURES, "unknown-channel"),
    );
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(
      '::error file=policies/alerts.yaml,line=8,col=16,title=ref/unknown-channel::alerts.chat-80 refers to channel "opps", which is not defined (did you mean "ops"?)',
    );
  });

  it("paths are relative to the working directory", async () => {
    const r = await limitr([
      "validate",
      "--policies",
      "fixtures/invalid/bad-type/policies",
      "--format",
      "json",
    ]);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.diagnostics[0]?.file).toBe("fixtures/invalid/bad-type/policies/plans.yaml");
  });

  it("a price with 18 decimal places validates with a precision warning (exit 0)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-validate-"));
    cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
    const plans = join(dir, "policies", "plans.yaml");
    writeFileSync(
      plans,
      readFileSync(plans, "utf8").replace("overage: 0.000003 ", "overage: 0.123456789012345678 "),
    );
    const r = await limitr(["validate", "--format", "json"], dir);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.diagnostics.map((d) => d.code)).toEqual(["money/precision"]);
    expect(report.diagnostics[0]?.message).toContain("18 decimal places");
  });

  it("a missing policy directory is a runtime error (exit 1) explained on stderr, not an invalid policy", async () => {
    const r = await limitr(["validate", "--policies", "no-such-dir"]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("no-such-dir does not exist");
  });

  it("hostile files give located diagnostics and exit 3, never a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-validate-"));
    cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
    writeFileSync(join(dir, "policies", "binary.yaml"), Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    writeFileSync(join(dir, "policies", "list.yml"), "- a\n- b\n");
    writeFileSync(join(dir, "policies", "deep.yaml"), `x: ${"[".repeat(500)}${"]".repeat(500)}\n`);
    const r = await limitr(["validate", "--format", "json"], dir);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.diagnostics.map((d) => `${d.file} ${d.code}`)).toEqual([
      "policies/binary.yaml yaml/encoding",
      "policies/deep.yaml yaml/too-deep",
      "policies/list.yml yaml/not-a-map",
    ]);
  });

  it("bad flag values are usage errors (exit 64)", async () => {
    expect((await limitr(["validate", "--format", "sarif-ish"])).exitCode).toBe(64);
    expect((await limitr(["validate", "--no-such-flag"])).exitCode).toBe(64);
  });
});
