import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

// Each test runs the CLI several times against a real server on a shared machine.
vi.setConfig({ testTimeout: 120_000 });

/**
 * The same CLI scenarios on a SQLite file and on the Postgres store, with
 * their outputs compared: a month of the example usage imported into both,
 * then bill, usage query, customers list and alerts check read from each.
 */
const FIXTURE = join(REPO, "fixtures/usage/2026-10.ndjson.gz");
const CUSTOMERS = join(REPO, "fixtures/usage/2026-10.customers.csv");

const schema = pgSchema();
let sqlite: string;
const stores = () => [
  ["sqlite", sqlite],
  ["postgres", schema.url],
];

const run = (db: string, ...args: string[]) => limitr(["--db", db, ...args]);
const json = async (db: string, ...args: string[]) => {
  const r = await run(db, ...args, "--format", "json");
  expect(r.exitCode, `${db}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

beforeAll(async () => {
  sqlite = join(mkdtempSync(join(tmpdir(), "limitr-pg-parity-")), "usage.db");
  for (const [, db] of stores()) {
    const imported = await json(db as string, "usage", "import", FIXTURE);
    expect(imported.imported).toBe(100_000);
    const customers = await run(db as string, "customers", "import", CUSTOMERS);
    expect(customers.exitCode, customers.stderr).toBe(0);
  }
}, 120_000);

afterAll(() => schema.drop());

describe("--db postgres://: the same answers as the SQLite store", () => {
  it("bill --format json is identical, invoice for invoice", async () => {
    const [a, b] = await Promise.all(
      stores().map(([, db]) => json(db as string, "bill", "--period", "2026-10")),
    );
    expect((a?.invoices as unknown[] | undefined)?.length).toBeGreaterThan(20);
    expect(b).toEqual(a);
  });

  it.each(["customer", "meter", "day", "model"])(
    "usage query --group-by %s is identical",
    async (groupBy) => {
      const [a, b] = await Promise.all(
        stores().map(([, db]) =>
          json(db as string, "usage", "query", "--period", "2026-10", "--group-by", groupBy),
        ),
      );
      expect((a?.rows as unknown[] | undefined)?.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    },
  );

  it("usage query for one customer and meter, over all time, is identical", async () => {
    const args = ["usage", "query", "--customer", "globex", "--meter", "input_tokens"];
    const [a, b] = await Promise.all(stores().map(([, db]) => json(db as string, ...args)));
    expect((a?.rows as unknown[] | undefined)?.length).toBe(1);
    expect(b).toEqual(a);
  });

  it("customers list and alerts check --dry-run are identical", async () => {
    const at = ["--at", "2026-10-20T12:00:00Z"];
    const [a, b] = await Promise.all(
      stores().map(([, db]) => json(db as string, "customers", "list", ...at)),
    );
    expect(b).toEqual(a);
    const check = ["alerts", "check", "--period", "2026-10", "--dry-run"];
    const [c, d] = await Promise.all(stores().map(([, db]) => json(db as string, ...check)));
    expect(c?.evaluated).toBeGreaterThan(0);
    expect(d).toEqual(c);
  });

  it("R13: importing the same file again adds nothing; the table holds each id once", async () => {
    const again = await json(schema.url, "usage", "import", FIXTURE);
    expect([again.imported, again.duplicates]).toEqual([0, 100_000]);
    const [row] = await pgQuery<{ n: string; ids: string }>(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM events",
      [],
      schema.name,
    );
    expect([Number(row?.n), Number(row?.ids)]).toEqual([100_000, 100_000]);
  });

  it("a bill that records credits leaves the same ledger in both stores", async () => {
    for (const [, db] of stores()) await json(db as string, "bill", "--period", "2026-10");
    const [a, b] = await Promise.all(
      stores().map(([, db]) => json(db as string, "bill", "--period", "2026-11")),
    );
    expect(b).toEqual(a);
    const ledger = await pgQuery<{ n: string }>("SELECT COUNT(*) AS n FROM credit_ledger", [], schema.name);
    expect(Number(ledger[0]?.n)).toBeGreaterThan(0);
  });

  it("status describes the shared store without its password", async () => {
    const r = await json(schema.url, "status");
    const store = r.store as Record<string, unknown>;
    expect(store.exists).toBe(true);
    expect(store.events).toBe(100_000);
    expect(store.schemaVersion).toBe(store.currentSchemaVersion);
  });

  it("alerts check without --dry-run keeps its state in Postgres: a second run fires nothing new", async () => {
    // No channel is reachable from a test: deliveries fail and stay in the outbox, which is what is checked.
    const first = await run(schema.url, "alerts", "check", "--period", "2026-10", "--format", "json");
    const fired = (JSON.parse(first.stdout) as { fired: unknown[] }).fired.length;
    expect(fired).toBeGreaterThan(0);
    const second = await run(schema.url, "alerts", "check", "--period", "2026-10", "--format", "json");
    expect((JSON.parse(second.stdout) as { fired: unknown[] }).fired).toEqual([]);
    const outbox = await pgQuery<{ n: string }>("SELECT COUNT(*) AS n FROM alert_outbox", [], schema.name);
    expect(Number(outbox[0]?.n)).toBeGreaterThan(0);
  }, 60_000);
});
