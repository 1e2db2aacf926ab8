import { describe, expect, it } from "vitest";
import {
  type Diagnostic,
  formatDiagnostic,
  formatGithub,
  formatSummary,
  sortDiagnostics,
  summarize,
} from "../../src/engine/core/policy/diagnostics.js";
import { closest } from "../../src/engine/core/policy/suggest.js";

const d = (over: Partial<Diagnostic>): Diagnostic => ({
  severity: "error",
  code: "schema/minimum",
  message: "plans.pro.entitlements.chat.limit must be >= 0 (got -5)",
  file: "policies/plans.yaml",
  line: 12,
  column: 18,
  path: "plans.pro.entitlements.chat.limit",
  ...over,
});

describe("diagnostic output (SPEC §5)", () => {
  it("one line per problem in the file:line:col severity [code] message shape, hint indented below", () => {
    expect(formatDiagnostic(d({}))).toBe(
      "policies/plans.yaml:12:18 error [schema/minimum] plans.pro.entitlements.chat.limit must be >= 0 (got -5)",
    );
    expect(formatDiagnostic(d({ severity: "warning", hint: 'did you mean "limit"?' })).split("\n")).toEqual([
      "policies/plans.yaml:12:18 warning [schema/minimum] plans.pro.entitlements.chat.limit must be >= 0 (got -5)",
      '    did you mean "limit"?',
    ]);
  });

  it("github annotations escape what the workflow-command syntax reserves", () => {
    const line = formatGithub(d({ file: "a,b:c.yaml", message: "50% off\nsecond line" }));
    expect(line).toBe(
      "::error file=a%2Cb%3Ac.yaml,line=12,col=18,title=schema/minimum::50%25 off%0Asecond line",
    );
  });

  it("summaries count errors and warnings with correct plurals", () => {
    const s = summarize([d({}), d({}), d({ severity: "warning" })], 5);
    expect(s).toEqual({ errors: 2, warnings: 1, files: 5 });
    expect(formatSummary(s)).toBe("2 errors, 1 warning in 5 files");
    expect(formatSummary({ errors: 1, warnings: 0, files: 1 })).toBe("1 error, 0 warnings in 1 file");
  });

  it("sorts by the order files were given, then line and column", () => {
    const sorted = sortDiagnostics(
      [
        d({ file: "b.yaml", line: 1 }),
        d({ file: "a.yaml", line: 9, column: 2 }),
        d({ file: "a.yaml", line: 9, column: 1 }),
      ],
      ["b.yaml", "a.yaml"],
    );
    expect(sorted.map((x) => `${x.file}:${x.line}:${x.column}`)).toEqual([
      "b.yaml:1:18",
      "a.yaml:9:1",
      "a.yaml:9:2",
    ]);
  });
});

describe("did-you-mean suggestions", () => {
  it("suggests plausible typos and nothing for unrelated names", () => {
    expect(closest("entitlments", ["entitlements", "price", "name"])).toBe("entitlements");
    expect(closest("usage_pct", ["usage", "usage_percent", "spend"])).toBe("usage_percent");
    expect(closest("Pro", ["pro", "free"])).toBe("pro");
    expect(closest("zzzzzz", ["pro", "free"])).toBeNull();
  });
});
