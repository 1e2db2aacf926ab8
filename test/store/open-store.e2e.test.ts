import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { REPO } from "../cli/run-cli.js";

const DATABASE = pathToFileURL(join(REPO, "src/engine/dist/adapters/store/database.js")).href;

/** A process that opens (creating) the store at `startAt` (epoch ms), so that all of them start together. */
const OPENER = `
const { openDatabase, SCHEMA_VERSION } = await import(process.argv[1]);
const [, , path, startAt] = process.argv;
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
const db = openDatabase(path, { create: true });
const version = db.pragma("user_version", { simple: true });
const tables = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'events'").get().n;
db.close();
if (version !== SCHEMA_VERSION || tables !== 1) throw new Error("schema " + version + ", events tables " + tables);
`;

describe("opening a new store", () => {
  const dir = mkdtempSync(join(tmpdir(), "limitr-open-store-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("20 processes creating the same new store at once all succeed (version check and migration under one write lock)", async () => {
    for (let round = 0; round < 3; round++) {
      const path = join(dir, `race-${round}.db`);
      const startAt = Date.now() + 1500;
      const runs = await Promise.all(
        Array.from({ length: 20 }, () =>
          execa(process.execPath, ["--input-type=module", "-e", OPENER, DATABASE, path, String(startAt)], {
            reject: false,
          }),
        ),
      );
      const failures = runs
        .filter((r) => r.exitCode !== 0)
        .map((r) => String(r.stderr).split("\n").slice(0, 6).join(" | "));
      expect(failures, `round ${round}`).toEqual([]);
    }
    // Sixty Node starts on a shared 2-core machine can outlast the default timeout.
  }, 180_000);
});
