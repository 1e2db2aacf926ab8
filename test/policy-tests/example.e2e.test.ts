import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";

/** Tag balance of an XML document (no DTDs, no CDATA): enough to catch broken escaping or nesting. */
function wellFormed(xml: string): boolean {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  const stripped = body.replace(/<[^>]*>/g, "");
  return stack.length === 0 && !/[<>]/.test(stripped) && !/&(?!(amp|lt|gt|quot|apos);)/.test(stripped);
}

describe("the example policy repo's own tests", () => {
  it("pass: `limitr test` from the repo root exits 0", async () => {
    const r = await limitr(["test"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
  });

  it("cover the free, pro, pay-as-you-go, enterprise and contract scenarios", async () => {
    const r = await limitr(["test", "--format", "json"]);
    const report = JSON.parse(r.stdout) as { cases: { name: string; file: string; status: string }[] };
    const files = new Set(report.cases.map((c) => c.file));
    expect([...files].sort()).toEqual([
      "policies/tests/contracts.yaml",
      "policies/tests/free.yaml",
      "policies/tests/payg.yaml",
      "policies/tests/pro.yaml",
    ]);
    const names = report.cases.map((c) => c.name).join(" ");
    for (const topic of [
      "free-chat",
      "free-api",
      "pro-soft",
      "pro-trial",
      "payg-calls",
      "enterprise",
      "acme",
      "globex",
    ]) {
      expect(names).toContain(topic);
    }
  });
});

describe("docs/policy-tests.md", () => {
  it("its example test file passes against the example policy", async () => {
    const doc = readFileSync(join(REPO, "docs", "policy-tests.md"), "utf8");
    const example = /```yaml\n(tests:[\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "limitr-doc-"));
    try {
      cpSync(join(REPO, "policies"), join(dir, "policies"), { recursive: true });
      rmSync(join(dir, "policies", "tests"), { recursive: true });
      mkdirSync(join(dir, "policies", "tests"));
      writeFileSync(join(dir, "policies", "tests", "example.yaml"), example as string);
      const r = await limitr(["test"], dir);
      expect(r.stdout).toBe("ok   free-plan-blocks-past-limit\n\n1 passed, 0 failed");
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("limitr test --format junit", () => {
  it("writes one well-formed testsuite per test file", async () => {
    const r = await limitr(["test", "--format", "junit"]);
    expect(r.exitCode).toBe(0);
    expect(wellFormed(r.stdout)).toBe(true);
    const suites = [...r.stdout.matchAll(/<testsuite name="([^"]+)" tests="(\d+)" failures="(\d+)"/g)];
    expect(suites.map((m) => m[1])).toEqual([
      "policies/tests/contracts.yaml",
      "policies/tests/free.yaml",
      "policies/tests/payg.yaml",
      "policies/tests/pro.yaml",
    ]);
    expect(suites.every((m) => m[3] === "0")).toBe(true);
  });

  it("puts each failing case's mismatches in a <failure> element", async () => {
    const r = await limitr([
      "test",
      "--policies",
      "fixtures/policy-tests/wrong-expectation",
      "--format",
      "junit",
    ]);
    expect(r.exitCode).toBe(4);
    expect(wellFormed(r.stdout)).toBe(true);
    expect(r.stdout).toContain('<testsuites name="limitr" tests="2" failures="1"');
    expect(r.stdout).toContain('<failure message="step 2: remaining expected 4, got 3" type="expectation">');
    expect(r.stdout).toContain(
      "limits.yaml:21 invoice nobody: expected &quot;an invoice&quot;, got &quot;no invoice&quot;",
    );
  });

  it("reports a malformed test file as an <error> of its suite, and exits 3", async () => {
    const r = await limitr([
      "test",
      "--policies",
      "fixtures/policy-tests/malformed-yaml",
      "--format",
      "junit",
    ]);
    expect(r.exitCode).toBe(3);
    expect(wellFormed(r.stdout)).toBe(true);
    expect(r.stdout).toContain('<testsuites name="limitr" tests="1" failures="0" errors="1"');
    expect(r.stdout).toContain(
      '<error message="malformed test file" type="invalid">fixtures/policy-tests/malformed-yaml/tests/broken.yaml:6:1 error [yaml/syntax]',
    );
    expect(r.stderr).toContain("broken.yaml:6:1");
  });
});
