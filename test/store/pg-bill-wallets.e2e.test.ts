import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitr, REPO } from "../cli/run-cli.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * R19 on Postgres: `limitr bill --db postgres://` invoices wallet top-ups as
 * purchase lines and shows the prepaid draw-down, as `bill` on SQLite does.
 * The same events and engine calls go to a SQLite file and a Postgres schema;
 * the two invoices JSON must be the same.
 */
const CASE = join(REPO, "fixtures", "billing", "wallet-topup-invoiced-once");
const schema = pgSchema("limitr_pgbillw");
const dir = mkdtempSync(join(tmpdir(), "limitr-pgbillw-"));
afterAll(async () => {
  await schema.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Step {
  op: "topUp" | "allow";
  now: string;
  customer: string;
  value?: string;
  id?: string;
  entitlement?: string;
  amount?: number;
}

/** The case's engine calls on `store` (exclusive on Postgres: a shared store refuses wallets). */
async function runEngine(store: string): Promise<void> {
  const { steps } = parse(readFileSync(join(CASE, "engine.yaml"), "utf8")) as { steps: Step[] };
  let now = 0;
  const engine = await Limitr.open({
    policy: join(dir, "policies"),
    store,
    exclusive: store.startsWith("postgres"),
    now: () => now,
    alerts: false,
  });
  try {
    for (const s of steps) {
      now = Date.parse(s.now);
      if (s.op === "topUp") engine.topUp(s.customer, s.value as string, { id: s.id });
      else expect(engine.allow(s.customer, s.entitlement as string, s.amount, { id: s.id })).toBe(true);
    }
  } finally {
    await engine.close();
  }
}

async function bill(db: string): Promise<{ invoices: Record<string, unknown>[] }> {
  const imported = await limitr(["usage", "import", "events.ndjson", "--db", db], dir);
  expect(imported.exitCode, imported.stderr).toBe(0);
  await runEngine(db === "usage.db" ? `sqlite:${join(dir, "usage.db")}` : db);
  const billed = await limitr(["bill", "--period", "2026-10", "--db", db, "--format", "json"], dir);
  expect(billed.exitCode, billed.stderr).toBe(0);
  return JSON.parse(billed.stdout);
}

describe("bill --db postgres:// with wallets (R19)", () => {
  it("R19 top-ups are purchase lines and prepaid usage is drawn down, never charged twice: the same invoices as on SQLite", async () => {
    mkdirSync(join(dir, "policies"));
    cpSync(join(CASE, "policy.yaml"), join(dir, "policies", "policy.yaml"));
    cpSync(join(CASE, "events.ndjson"), join(dir, "events.ndjson"));
    const sqlite = await bill("usage.db");
    const pg = await bill(schema.url);
    const stored = await pgQuery<{ n: number }>(
      "SELECT count(*)::int AS n FROM wallet_transactions WHERE kind = 'credit'",
      [],
      schema.name,
    );
    expect(stored[0]?.n).toBe(2);
    const expected = JSON.parse(readFileSync(join(CASE, "expected.json"), "utf8")) as {
      invoices: { total: string; lines: unknown[] }[];
    };
    const lines = (b: { invoices: Record<string, unknown>[] }) =>
      b.invoices.map((inv) => ({
        total: inv.total,
        lines: (inv.lines as Record<string, unknown>[]).map(({ kind, entitlement, quantity, amount }) => ({
          kind,
          entitlement,
          quantity,
          amount,
        })),
      }));
    expect(lines(pg)).toEqual(expected.invoices.map(({ total, lines: l }) => ({ total, lines: l })));
    expect(pg.invoices).toEqual(sqlite.invoices);
  }, 60_000);
});
