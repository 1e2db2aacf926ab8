import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { PG_BASE, pgQuery, pgSchema } from "../helpers/pg-schema.js";
import { makeRepo, octoberEvents } from "../simulate/fixture.js";

// Each test runs the CLI several times against a real server on a shared machine.
vi.setConfig({ testTimeout: 120_000 });

/**
 * Opening the Postgres store from the CLI: what a wrong URL, an unreachable
 * server or a database without a limitr schema does (exit 1, the URL
 * without its password, no stack trace), concurrent first opens, and
 * `simulate` reading the shared store like a SQLite file.
 */
const schemas: ReturnType<typeof pgSchema>[] = [];
const fresh = () => {
  const s = pgSchema();
  schemas.push(s);
  return s;
};
afterAll(async () => {
  for (const s of schemas) await s.drop();
});

const schemaExists = async (name: string) =>
  (await pgQuery("SELECT 1 FROM pg_namespace WHERE nspname = $1", [name])).length === 1;

describe("--db postgres:// errors", () => {
  it("an unreachable server: exit 1, a message naming the URL without its password", async () => {
    const url = "postgres://someone:hunter2@127.0.0.1:1/test";
    for (const args of [
      ["usage", "query", "--period", "2026-10"],
      ["bill", "--period", "2026-10"],
    ]) {
      const r = await limitr(["--db", url, ...args]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain("cannot connect to store postgres://someone:***@127.0.0.1:1/test");
      expect(r.stderr).not.toContain("hunter2");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("reading commands refuse a schema no limitr wrote, and do not create it", async () => {
    const s = fresh();
    for (const args of [
      ["bill", "--period", "2026-10"],
      ["usage", "query"],
      ["customers", "list"],
      ["alerts", "check", "--period", "2026-10", "--dry-run"],
    ]) {
      const r = await limitr(["--db", s.url, ...args]);
      expect(r.exitCode, args.join(" ")).toBe(1);
      expect(r.stderr).toContain(
        `store ${PG_BASE}?schema=${s.name} is not a limitr store (no schema): check --db`,
      );
    }
    expect(await schemaExists(s.name)).toBe(false);
  });

  it("another program's tables in the schema are not a limitr store", async () => {
    const s = fresh();
    await pgQuery(`CREATE SCHEMA ${s.name}; CREATE TABLE ${s.name}.events (id int)`);
    const r = await limitr(["--db", s.url, "usage", "query"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("is not a limitr store");
  });

  it("a schema name that is not a plain identifier is a usage error (64)", async () => {
    const r = await limitr(["--db", `${PG_BASE}?schema=bad;name`, "usage", "query"]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain("must be a plain identifier");
  });
});

describe("first opens", () => {
  it("postgresql:// URLs too; concurrent first writers migrate once and all succeed", async () => {
    const s = fresh();
    const url = s.url.replace(/^postgres:/, "postgresql:");
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        limitr(["--db", url, "customers", "set", `c${i}`, "--plan", "pro", "--at", "2026-10-01"]),
      ),
    );
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const migrations = await pgQuery<{ version: number }>(
      "SELECT version FROM limitr_migrations",
      [],
      s.name,
    );
    expect(migrations.map((m) => m.version)).toEqual([1, 2]);
    const list = await limitr(["--db", url, "customers", "list", "--format", "json"]);
    const ids = (JSON.parse(list.stdout) as { customers: { customer: string }[] }).customers.map(
      (c) => c.customer,
    );
    expect(ids).toEqual(expect.arrayContaining(["c0", "c1", "c2", "c3"]));
  }, 60_000);
});

describe("simulate --db postgres://", () => {
  it("re-rates and replays the period exactly as on the SQLite store", async () => {
    const s = fresh();
    const repo = makeRepo();
    const base = repo.git("rev-parse", "HEAD");
    const { events, pro } = octoberEvents({ free: 15, pro: 10, perCustomer: 60, seed: 11 });
    const file = join(repo.dir, "october.ndjson");
    writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
    const csv = join(repo.dir, "plans.csv");
    writeFileSync(csv, `customer,plan,at\n${pro.map((c) => `${c},pro,2026-09-01`).join("\n")}\n`);
    for (const db of [repo.db, s.url]) {
      const imported = await limitr(
        ["--db", db, "--policies", repo.policies, "usage", "import", file],
        repo.dir,
      );
      expect(imported.exitCode, imported.stderr).toBe(0);
      const plans = await limitr(
        ["--db", db, "--policies", repo.policies, "customers", "import", csv],
        repo.dir,
      );
      expect(plans.exitCode, plans.stderr).toBe(0);
    }
    repo.edit(
      "plans.yaml",
      "overage: 0.000003          # $3 per million",
      "overage: 0.000005          # $5 per million",
    );
    const head = repo.commit("pro: raise chat_input overage");
    const simulate = async (db: string) => {
      const r = await limitr(
        [
          "--db",
          db,
          "--policies",
          repo.policies,
          "simulate",
          "--base",
          base,
          "--head",
          head,
          "--period",
          "2026-10",
          "--format",
          "json",
        ],
        repo.dir,
      );
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { totals: Record<string, unknown> };
    };
    const [onFile, onPg] = [await simulate(repo.db), await simulate(s.url)];
    expect(onFile.totals).toBeDefined();
    expect(onPg).toEqual(onFile);
  }, 120_000);
});
