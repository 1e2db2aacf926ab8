import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, SCHEMA_VERSION } from "../../src/engine/adapters/store/database.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitr, REPO } from "../cli/run-cli.js";

const POLICIES = join(REPO, "policies");
const dirs: string[] = [];
const engines: Limitr[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function engineOn(db: string, planPollMs: number): Promise<Limitr> {
  const e = await Limitr.open({ policy: POLICIES, store: `sqlite:${db}`, planPollMs });
  engines.push(e);
  return e;
}

// free: chat_input hard at 100,000 tokens a month; pro: soft at 2,000,000.
const BIG = 150_000;

describe("R1 plan changes recorded by another process reach a running engine", () => {
  it("`limitr customers set` while the engine runs: the next decisions follow the new plan", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-plans-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    const engine = await engineOn(db, 50);
    expect(engine.check("newco", "chat_input", BIG)).toMatchObject({
      allowed: false,
      reason: "limit_exceeded",
    });
    expect(engine.usage("newco", "chat_input").limit).toBe(100_000);

    const set = await limitr(["customers", "set", "newco", "--plan", "pro", "--db", db]);
    expect(set.exitCode).toBe(0);
    await until(() => engine.check("newco", "chat_input", BIG).allowed);
    expect(engine.usage("newco", "chat_input").limit).toBe(2_000_000);
    // Counted under the new plan, and other customers keep theirs.
    expect(engine.allow("newco", "chat_input", BIG)).toBe(true);
    expect(engine.check("other", "chat_input", BIG).allowed).toBe(false);

    // Back to free from now on.
    const back = await limitr(["customers", "set", "newco", "--plan", "free", "--db", db]);
    expect(back.exitCode).toBe(0);
    await until(() => !engine.check("newco", "chat_input", 1).allowed);
    expect(engine.usage("newco", "chat_input")).toMatchObject({ used: BIG, limit: 100_000 });
  });

  it("with planPollMs 0 the engine does not look: the change applies after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-plans-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    const engine = await engineOn(db, 0);
    expect((await limitr(["customers", "set", "newco", "--plan", "pro", "--db", db])).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(engine.check("newco", "chat_input", BIG).allowed).toBe(false);
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    const reopened = await engineOn(db, 0);
    expect(reopened.check("newco", "chat_input", BIG).allowed).toBe(true);
  });

  it("a store written before the plan-change index existed is upgraded when opened, its rows kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-plans-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    expect((await limitr(["customers", "set", "newco", "--plan", "pro", "--db", db])).exitCode).toBe(0);
    const old = openDatabase(db);
    // Back to schema 1: without the later migrations' index and column.
    old.exec(
      "DROP INDEX subscriptions_by_recorded; ALTER TABLE alert_outbox DROP COLUMN sending_at; " +
        "DROP TABLE counter_periods; DROP TABLE wallet_transactions; DROP TABLE wallets; " +
        "DROP TABLE customer_currencies; DROP TABLE pushed_invoices; ALTER TABLE subscriptions DROP COLUMN add_ons; " +
        "DROP TABLE rollup_firsts; DROP TABLE rollup_values; DROP TABLE rollups; DROP TABLE rollup_defs; " +
        "DROP TABLE counters; CREATE TABLE counters (key TEXT NOT NULL PRIMARY KEY, owner TEXT NOT NULL, " +
        "entitlement TEXT NOT NULL, period_start INTEGER NOT NULL, used REAL NOT NULL, events INTEGER NOT NULL DEFAULT 0, " +
        "updated_at INTEGER NOT NULL) WITHOUT ROWID; PRAGMA user_version = 1;",
    );
    old.close();

    const engine = await engineOn(db, 50);
    expect(engine.check("newco", "chat_input", BIG).allowed).toBe(true);
    const reader = openDatabase(db, { readonly: true });
    try {
      expect(reader.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      const index = reader
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'subscriptions_by_recorded'")
        .pluck()
        .get();
      expect(index).toBe("subscriptions_by_recorded");
    } finally {
      reader.close();
    }
  });

  it("an engine on its own clock (years ahead) still sees every plan another process records", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-plans-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    const future = Date.parse("2031-01-15T12:00:00Z");
    const engine = await Limitr.open({
      policy: POLICIES,
      store: `sqlite:${db}`,
      planPollMs: 50,
      now: () => future,
    });
    engines.push(engine);
    // The engine's own plan row is stamped with its clock, years after the CLI's rows.
    engine.setPlan("own", "pro");
    await engine.flush();
    for (const customer of ["first", "second"]) {
      expect(engine.check(customer, "chat_input", BIG).allowed).toBe(false);
      const at = "2031-01-01";
      expect(
        (await limitr(["customers", "set", customer, "--plan", "pro", "--at", at, "--db", db])).exitCode,
      ).toBe(0);
      await until(() => engine.check(customer, "chat_input", BIG).allowed);
    }
  });
});
