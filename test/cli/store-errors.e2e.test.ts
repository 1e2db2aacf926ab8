import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

describe("a missing store (a mistyped --db)", () => {
  const dir = mkdtempSync(join(tmpdir(), "limitr-store-missing-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is refused by name by every reading command (exit 1), and nothing is created", async () => {
    const db = join(dir, "typo", "usage.db");
    for (const args of [
      ["bill", "--period", "2026-10"],
      ["usage", "query", "--period", "2026-10"],
      ["customers", "list"],
      ["alerts", "check", "--period", "2026-10"],
      ["alerts", "check", "--period", "2026-10", "--dry-run"],
      ["alerts", "test", "pro-chat-80", "--customer", "globex", "--period", "2026-10"],
      ["simulate", "--period", "2026-10", "--base", "HEAD"],
      ["balances", "show"],
      ["balances", "history", "walleted"],
    ]) {
      const run = await limitr([...args, "--db", db]);
      expect(run.exitCode, `${args.join(" ")}: ${run.stderr}`).toBe(1);
      expect(run.stderr).toContain(`store ${db} does not exist`);
      expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(existsSync(join(dir, "typo")), args.join(" ")).toBe(false);
    }
  });

  it("usage import of a file it cannot read fails before creating the store", async () => {
    const db = join(dir, "never", "usage.db");
    const missing = join(dir, "no-such-file.ndjson");
    const run = await limitr(["usage", "import", missing, "--db", db]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`cannot read ${missing}`);
    const unknown = join(dir, "events.txt");
    writeFileSync(unknown, "{}\n");
    expect((await limitr(["usage", "import", unknown, "--db", db])).exitCode).toBe(1);
    expect(existsSync(join(dir, "never"))).toBe(false);
  });

  it("usage import and customers set create it; bill then warns that the period has no events", async () => {
    const created = join(dir, "new", "usage.db");
    const set = await limitr(["customers", "set", "newco", "--plan", "pro", "--db", created]);
    expect(set.exitCode, set.stderr).toBe(0);
    const bill = await limitr(["bill", "--period", "2026-10", "--db", created]);
    expect(bill.exitCode, bill.stderr).toBe(0);
    expect(bill.stderr).toContain(`warning: store ${created} has no events in 2026-10`);

    const events = join(dir, "september.ndjson");
    writeFileSync(
      events,
      `${JSON.stringify({ id: "s1", type: "api.request", customer: "newco", timestamp: "2026-09-10T10:00:00Z" })}\n`,
    );
    const other = join(dir, "other", "usage.db");
    expect((await limitr(["usage", "import", events, "--db", other])).exitCode).toBe(0);
    const october = await limitr(["bill", "--period", "2026-10", "--db", other]);
    expect(october.stderr).toContain(`warning: store ${other} has no events in 2026-10`);
    const september = await limitr(["bill", "--period", "2026-09", "--db", other]);
    expect(september.exitCode, september.stderr).toBe(0);
    expect(september.stderr).not.toContain("no events");
  });
});
