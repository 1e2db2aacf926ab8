import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limitr, REPO } from "./run-cli.js";

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  locations: {
    physicalLocation: {
      artifactLocation: { uri: string };
      region: { startLine: number; startColumn: number };
    };
  }[];
}

describe("limitr validate --format sarif", () => {
  it("reports every problem as a located SARIF 2.1.0 result with its rule", async () => {
    const dir = join("fixtures", "invalid", "several-problems", "policies");
    const run = await limitr(["validate", "--policies", dir, "--format", "sarif"]);
    expect(run.exitCode).toBe(3);
    const log = JSON.parse(run.stdout);
    expect(log.version).toBe("2.1.0");
    const [sarifRun] = log.runs;
    const results = sarifRun.results as SarifResult[];
    const expected = JSON.parse(
      readFileSync(join(REPO, "fixtures", "invalid", "several-problems", "expected.json"), "utf8"),
    ) as { diagnostics: { code: string; line: number; column: number }[] };
    const list = expected.diagnostics;
    expect(results).toHaveLength(list.length);
    for (const want of list) {
      const hit = results.find(
        (r) =>
          r.ruleId === want.code &&
          r.locations[0]?.physicalLocation.region.startLine === want.line &&
          r.locations[0]?.physicalLocation.region.startColumn === want.column,
      );
      expect(hit, `${want.code} at ${want.line}:${want.column}`).toBeDefined();
      expect(sarifRun.tool.driver.rules[hit!.ruleIndex].id).toBe(want.code);
    }
  });

  it("emits an empty result list for the valid example policy", async () => {
    const run = await limitr(["validate", "--format", "sarif"]);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).runs[0].results).toEqual([]);
  });
});
