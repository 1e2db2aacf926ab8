import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { limitr } from "./run-cli.js";

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-rollups-cli-"));
  db = join(dir, "usage.db");
});

const run = (...args: string[]) => limitr(["--db", db, ...args]);
const sql = <T>(f: (d: Database.Database) => T): T => {
  const d = new Database(db);
  try {
    return f(d);
  } finally {
    d.close();
  }
};
const calls = async (): Promise<string[]> => {
  const r = await run("usage", "query", "--period", "2026-10", "--meter", "api_calls", "--format", "json");
  expect(r.exitCode).toBe(0);
  return (JSON.parse(r.stdout).rows as { customer: string; value: string; events: number }[]).map(
    (x) => `${x.customer} ${x.value} ${x.events}`,
  );
};

describe("usage rebuild-rollups", () => {
  it("queries build rollups, imports keep them, rebuild-rollups restores them from the events", async () => {
    const file = join(dir, "a.ndjson");
    const event = (id: string, customer: string, day: number) =>
      JSON.stringify({
        id,
        type: "api.request",
        customer,
        timestamp: `2026-10-${String(day).padStart(2, "0")}T15:00:00Z`,
      });
    writeFileSync(file, `${[event("e1", "c1", 2), event("e2", "c1", 3), event("e3", "c2", 3)].join("\n")}\n`);
    expect((await run("usage", "import", file)).exitCode).toBe(0);
    expect(await calls()).toEqual(["c1 2 2", "c2 1 1"]);
    const defs = () => sql((d) => d.prepare("SELECT COUNT(*) FROM rollup_defs").pluck().get() as number);
    expect(defs()).toBeGreaterThan(0);

    // A late event and a re-import of a known id: rollups count the new one only.
    writeFileSync(file, `${[event("e1", "c1", 2), event("e4", "c2", 1)].join("\n")}\n`);
    expect((await run("usage", "import", file)).exitCode).toBe(0);
    expect(await calls()).toEqual(["c1 2 2", "c2 2 2"]);

    // Rollups that no longer match the events (edited by hand) are what the rebuild is for.
    sql((d) => d.prepare("UPDATE rollups SET q = q + 40").run());
    expect(await calls()).not.toEqual(["c1 2 2", "c2 2 2"]);
    const r = await run("usage", "rebuild-rollups");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /^rebuilt \d+ rollup\(s\) for \d+ meter\(s\) of .+ from 4 event\(s\) in [\d.]+s$/,
    );
    expect(await calls()).toEqual(["c1 2 2", "c2 2 2"]);
  });

  it("a store that does not exist is an input error", async () => {
    const r = await run("usage", "rebuild-rollups");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("does not exist");
  });
});
