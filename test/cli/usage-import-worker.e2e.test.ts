import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { limitrBinary, REPO } from "./run-cli.js";

/**
 * `usage import` reads a large file in a worker thread and a small one in the
 * importing thread (LIMITR_IMPORT_WORKER_MIN_BYTES moves the line). Both paths,
 * through the built binary, must leave the same rows and print the same
 * problems and errors, for good files and hostile ones.
 */
const dir = mkdtempSync(join(tmpdir(), "limitr-import-worker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rows(db: string): unknown[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT id, type, customer, ts, value, properties FROM events ORDER BY seq").all();
  } finally {
    d.close();
  }
}

function badCase(name: string): string {
  const caseDir = join(REPO, "fixtures/usage/bad", name);
  return join(caseDir, readdirSync(caseDir).find((f) => f !== "expected.json") as string);
}

/** A CSV of varied rows, with quoted cells and properties columns, gzipped. */
function csvFile(): string {
  const lines = ["id,type,customer,timestamp,value,properties.model,properties.tokens"];
  for (let i = 0; i < 3000; i++) {
    const model = i % 7 === 0 ? '"gpt, 4o"' : i % 5 === 0 ? "" : `m${i % 3}`;
    lines.push(
      `csv-${i},api.call,cust-${i % 11},2026-10-0${1 + (i % 9)}T1${i % 10}:00:00Z,${i % 4 === 0 ? "" : i / 4},${model},${i * 3}`,
    );
  }
  lines.splice(1500, 0, "csv-bad,api.call,c,2026-09-31T10:00:00Z,1,m,1");
  const file = join(dir, "varied.csv.gz");
  writeFileSync(file, gzipSync(`${lines.join("\n")}\n`));
  return file;
}

const files: [string, () => string][] = [
  ["the example usage (gzipped NDJSON)", () => join(REPO, "fixtures/usage/2026-10.ndjson.gz")],
  ["a gzipped CSV", csvFile],
  ["a truncated .gz", () => badCase("truncated-gzip")],
  ["invalid UTF-8 in NDJSON", () => badCase("invalid-utf8-ndjson")],
  ["a __proto__ property", () => badCase("proto-property-ndjson")],
  ["a value out of range", () => badCase("value-1e308")],
  ["an unclosed quote in a CSV", () => badCase("unclosed-quote-csv")],
];

const plain = (s: string) => s.replace(/ in \d+\.\ds/g, "").replaceAll(dir, "DIR");

describe("usage import in a worker thread and in the importing thread", () => {
  for (const [what, make] of files) {
    it(`${what}: the same rows, problems and errors`, async () => {
      const file = make();
      const out: { exitCode: number; stderr: string; stdout: string; rows: unknown[] }[] = [];
      for (const [path, min] of [
        ["worker", "0"],
        ["thread", "1e18"],
      ] as const) {
        const db = join(dir, `${what.replace(/\W+/g, "-")}-${path}.db`);
        const run = await limitrBinary(["usage", "import", file, "--db", db], REPO, {
          LIMITR_IMPORT_WORKER_MIN_BYTES: min,
        });
        expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
        out.push({
          exitCode: run.exitCode,
          stderr: plain(run.stderr),
          stdout: plain(run.stdout).replaceAll(`-${path}.db`, ".db"),
          rows: rows(db),
        });
      }
      const [worker, thread] = out as [(typeof out)[0], (typeof out)[0]];
      expect(worker).toEqual(thread);
      // Each case must exercise what it names: rows imported, or problems reported.
      expect(worker.rows.length + worker.stderr.length).toBeGreaterThan(0);
    });
  }

  it("a re-import in the worker path counts every event as a duplicate (R13)", async () => {
    const file = join(REPO, "fixtures/usage/2026-10.ndjson.gz");
    const db = join(dir, "twice.db");
    const env = { LIMITR_IMPORT_WORKER_MIN_BYTES: "0" };
    const first = await limitrBinary(["usage", "import", file, "--db", db, "--format", "json"], REPO, env);
    const second = await limitrBinary(["usage", "import", file, "--db", db, "--format", "json"], REPO, env);
    const a = JSON.parse(first.stdout) as { imported: number; duplicates: number };
    const b = JSON.parse(second.stdout) as { imported: number; duplicates: number };
    expect(a.imported).toBeGreaterThan(0);
    expect(b).toMatchObject({ imported: 0, duplicates: a.imported });
    expect(rows(db).length).toBe(a.imported);
  });
});
