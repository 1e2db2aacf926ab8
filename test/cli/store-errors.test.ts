import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { limitr } from "./run-cli.js";

describe("a store file that is not a usable store", () => {
  const dir = mkdtempSync(join(tmpdir(), "limitr-store-errors-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is reported by name, without a stack trace, and left untouched", async () => {
    const db = join(dir, "usage.db");
    const junk = "these are not the pages you are looking for\n".repeat(200);
    writeFileSync(db, junk);
    for (const args of [
      ["bill", "--period", "2026-10"],
      ["usage", "query", "--period", "2026-10"],
      ["customers", "list"],
      ["alerts", "check", "--period", "2026-10", "--dry-run"],
    ]) {
      const run = await limitr([...args, "--db", db]);
      expect(run.exitCode, args.join(" ")).toBe(1);
      expect(run.stderr).toContain(`cannot use store ${db}`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readFileSync(db, "utf8")).toBe(junk);
  });
});
