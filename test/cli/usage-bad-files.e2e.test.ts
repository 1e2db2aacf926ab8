import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { limitr, REPO } from "./run-cli.js";

/**
 * Hostile usage files (fixtures/usage/bad/<case>/: one usage file and
 * expected.json), each imported through the built CLI. A bad row is reported
 * as file:line: reason and skipped; a file that cannot be read to its end
 * stops the import (exit 1) with a count of what was committed; --strict
 * writes nothing. Adding a case is adding a folder.
 */
interface Expected {
  problem: string;
  exitCode: number;
  problems?: { line: number; message: string }[];
  fatal?: { line?: number; message: string };
  /** Exactly the events that must be in the store afterwards. */
  ids?: string[];
  minImported?: number;
}

const BAD = join(REPO, "fixtures/usage/bad");
const cases = readdirSync(BAD).sort();
const dir = mkdtempSync(join(tmpdir(), "limitr-bad-usage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function storedIds(db: string): string[] {
  if (!existsSync(db)) return [];
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT id FROM events ORDER BY id").all() as { id: string }[]).map((r) => r.id);
  } finally {
    d.close();
  }
}

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("hostile usage files (fixtures/usage/bad)", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThan(10));

  for (const name of cases) {
    const caseDir = join(BAD, name);
    const expected = JSON.parse(readFileSync(join(caseDir, "expected.json"), "utf8")) as Expected;
    const file = join(caseDir, readdirSync(caseDir).find((f) => f !== "expected.json") as string);

    it(`${name}: ${expected.problem}`, async () => {
      const db = join(dir, `${name}.db`);
      const run = await limitr(["usage", "import", file, "--db", db]);
      expect(run.exitCode, run.stderr).toBe(expected.exitCode);
      expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
      for (const p of expected.problems ?? []) {
        expect(run.stderr).toContain(`${file}:${p.line}: ${p.message}`);
      }
      const ids = storedIds(db);
      if (expected.ids) expect(ids).toEqual([...expected.ids].sort());
      if (expected.fatal) {
        const line = expected.fatal.line === undefined ? "(\\d+)" : String(expected.fatal.line);
        const m = new RegExp(`${literal(file)}:${line}: ${literal(expected.fatal.message)}`).exec(run.stderr);
        expect(m, run.stderr).not.toBeNull();
        // What was read before the error is committed, and the summary says how much.
        expect(run.stderr).toContain(`${ids.length} events imported before the error`);
        if (expected.fatal.line === undefined) expect(ids.length).toBe(Number(m?.[1]) - 1);
        expect(ids.length).toBeGreaterThanOrEqual(expected.minImported ?? 0);
      }
      expect(
        ids.every((id) => id.startsWith("ok-")),
        ids.join(","),
      ).toBe(true);

      const strictDb = join(dir, `${name}.strict.db`);
      const strict = await limitr(["usage", "import", file, "--db", strictDb, "--strict"]);
      expect(strict.exitCode, strict.stderr).toBe(1);
      expect(strict.stderr).toContain("nothing was imported");
      expect(strict.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(storedIds(strictDb)).toEqual([]);
    });
  }
});
