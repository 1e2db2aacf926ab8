import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, limitrBinary, REPO } from "./run-cli.js";

/**
 * A long import (50,000 events and more) hands its WAL checkpoints to a second
 * connection in another thread (wal-checkpointer.ts). The store must come out
 * the same: every row, an intact file, the WAL folded in once the command
 * ends, and a killed import still keeps whole batches only (SPEC §6, R13).
 */
const dir = mkdtempSync(join(tmpdir(), "limitr-import-checkpoints-"));
const file = join(dir, "usage.ndjson");
const EVENTS = 120_000;

beforeAll(async () => {
  await execa(
    process.execPath,
    ["--import", "tsx", "scripts/gen-usage.ts", "--events", String(EVENTS), "--seed", "5", "--out", file],
    { cwd: REPO },
  );
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function inspect(db: string): { rows: number; integrity: string; last: string } {
  const d = new Database(db, { readonly: true });
  try {
    return {
      rows: (d.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n,
      integrity: d.pragma("integrity_check", { simple: true }) as string,
      last: (d.prepare("SELECT id FROM events ORDER BY seq DESC LIMIT 1").get() as { id: string }).id,
    };
  } finally {
    d.close();
  }
}

describe("usage import with checkpoints in another thread", () => {
  it("imports every row into an intact store and leaves no WAL behind", async () => {
    const db = join(dir, "whole.db");
    const run = await limitrBinary(["usage", "import", file, "--db", db, "--format", "json"]);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ imported: EVENTS, duplicates: 0, skipped: 0 });
    // The last connection to close folds the WAL into the file and removes it.
    expect(existsSync(`${db}-wal`)).toBe(false);
    const got = inspect(db);
    expect(got.rows).toBe(EVENTS);
    expect(got.integrity).toBe("ok");
    const again = await limitrBinary(["usage", "import", file, "--db", db, "--format", "json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ imported: 0, duplicates: EVENTS });
  });

  it("a killed import keeps whole batches only; a re-run completes it without duplicates", async () => {
    const db = join(dir, "killed.db");
    const child = execa(
      process.execPath,
      [BIN, "--db", db, "usage", "import", file, "--batch-size", "5000"],
      {
        cwd: REPO,
        reject: false,
      },
    );
    // Kill once the checkpoints have moved to the other thread (past 50,000 rows).
    for (let i = 0; i < 800; i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        if (inspect(db).rows >= 60_000) break;
      } catch {
        // the store is not created yet
      }
    }
    child.kill("SIGKILL");
    await child;
    const partial = inspect(db);
    expect(partial.integrity).toBe("ok");
    expect(partial.rows % 5000).toBe(0);
    expect(partial.rows).toBeGreaterThanOrEqual(60_000);
    const rerun = await limitrBinary(["usage", "import", file, "--db", db, "--format", "json"]);
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      imported: EVENTS - partial.rows,
      duplicates: partial.rows,
      skipped: 0,
    });
    expect(inspect(db).rows).toBe(EVENTS);
  });
});
