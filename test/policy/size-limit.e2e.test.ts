import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { largePolicy } from "../../bench/large-policy.js";
import { maxPolicyFileBytes } from "../../src/engine/adapters/policy-source.js";
import { InputError } from "../../src/engine/core/errors.js";
import { MAX_FILE_BYTES } from "../../src/engine/core/policy/source.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { BIN } from "../cli/run-cli.js";

describe("policy file size limit", () => {
  it("a 10 MB policy with 50,000 customers is under the default limit", () => {
    const text = largePolicy({ customers: 50_000 });
    expect(text.length).toBeGreaterThan(10_000_000);
    expect(text.length).toBeLessThan(MAX_FILE_BYTES);
  });

  it("the limit is the caller's: a smaller one refuses the file, naming both sizes", () => {
    const text = largePolicy({ customers: 5_000 });
    const r = validatePolicyFiles([{ path: "limitr.yaml", text }], { maxFileBytes: 1024 * 1024 });
    expect(r.policy).toBeUndefined();
    expect(r.diagnostics).toMatchObject([
      { code: "yaml/too-large", file: "limitr.yaml", line: 1, column: 1 },
    ]);
    expect(r.diagnostics[0]?.message).toMatch(/^the file is 1\.2 MiB; policy files are limited to 1 MiB$/);
  });

  it("LIMITR_MAX_POLICY_FILE_MIB sets the limit; a value that is not a positive number is refused", () => {
    expect(maxPolicyFileBytes({})).toBe(16 * 1024 * 1024);
    expect(maxPolicyFileBytes({ LIMITR_MAX_POLICY_FILE_MIB: "64" })).toBe(64 * 1024 * 1024);
    expect(() => maxPolicyFileBytes({ LIMITR_MAX_POLICY_FILE_MIB: "lots" })).toThrow(InputError);
    expect(() => maxPolicyFileBytes({ LIMITR_MAX_POLICY_FILE_MIB: "0" })).toThrow(InputError);
  });

  it("limitr validate honours LIMITR_MAX_POLICY_FILE_MIB (exit 3, yaml/too-large)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-size-"));
    writeFileSync(join(dir, "limitr.yaml"), largePolicy({ customers: 5_000 }));
    const run = (mib?: string) =>
      execa(process.execPath, [BIN, "validate", "--policies", dir, "--format", "json"], {
        reject: false,
        env: { NO_COLOR: "1", ...(mib ? { LIMITR_MAX_POLICY_FILE_MIB: mib } : {}) },
      });
    expect((await run()).exitCode).toBe(0);
    const small = await run("1");
    expect(small.exitCode).toBe(3);
    expect(JSON.parse(String(small.stdout)).diagnostics).toMatchObject([
      { code: "yaml/too-large", message: expect.stringContaining("limited to 1 MiB") },
    ]);
  }, 60_000);
});
