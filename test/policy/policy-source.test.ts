import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadValidPolicy, policyFiles, readPolicyFiles } from "../../src/engine/adapters/policy-source.js";
import { InputError, PolicyError } from "../../src/engine/core/errors.js";
import { MAX_FILE_BYTES } from "../../src/engine/core/policy/source.js";

function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "limitr-src-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe("policy-source (reading a policy directory)", () => {
  it("finds *.yaml and *.yml recursively, skipping tests/ and dot-folders", () => {
    const dir = repo({
      "a.yaml": "",
      "sub/b.yml": "",
      "tests/t.yaml": "",
      ".hidden/c.yaml": "",
      "sub/tests/d.yaml": "",
      "e.txt": "",
    });
    expect(policyFiles(dir).map((f) => f.slice(dir.length + 1))).toEqual([
      "a.yaml",
      "sub/b.yml",
      "sub/tests/d.yaml",
    ]);
  });

  it("loadValidPolicy returns the compiled policy of the example", () => {
    const policy = loadValidPolicy("policies");
    expect(policy.currency).toBe("USD");
    expect(policy.defaultPlan).toBe("free");
  });

  it("loadValidPolicy throws a PolicyError listing every error in the SPEC §5 line format", () => {
    const dir = repo({
      "limitr.yaml": "limitr: 1\ncurrency: XXY\n",
      "plans.yaml": "plans:\n  p: { default: yes }\n",
    });
    let caught: unknown;
    try {
      loadValidPolicy(dir);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    const lines = (caught as Error).message.split("\n");
    expect(lines[0]).toContain("(2 errors)");
    expect(lines.filter((l) => / error \[/.test(l))).toHaveLength(2);
    expect(
      lines.some((l) =>
        l.endsWith('limitr.yaml:2:11 error [policy/currency] currency "XXY" is not an ISO 4217 code'),
      ),
    ).toBe(true);
  });

  it("a missing directory is an InputError (exit 1), not an invalid policy", () => {
    expect(() => loadValidPolicy("/nonexistent/limitr")).toThrow(InputError);
  });

  it("a file over the size limit is reported without being read", () => {
    const dir = repo({ "limitr.yaml": "limitr: 1\n" });
    writeFileSync(join(dir, "huge.yaml"), Buffer.alloc(MAX_FILE_BYTES + 10, 0x20));
    const files = readPolicyFiles(dir, dir);
    expect(files.map((f) => f.path)).toEqual(["huge.yaml", "limitr.yaml"]);
    expect(() => loadValidPolicy(dir)).toThrow(/yaml\/too-large/);
  });
});
