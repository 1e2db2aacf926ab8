import { execSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { loadUsage, makeRepo, octoberEvents, type SimRepo, simulateBetween } from "./fixture.js";

/**
 * A head that raises pro's chat_input overage price. The expected revenue
 * change is worked out from `limitr bill --format json` run at each commit
 * separately (on a copy of the store), never from simulate's own output.
 */
let repo: SimRepo;
let baseCommit: string;
let headCommit: string;

/** "1234.56" -> 123456n: exact sums of USD amounts. */
const cents = (s: string) => {
  expect(s).toMatch(/^-?\d+\.\d{2}$/);
  return BigInt(s.replace(".", ""));
};
const fromCents = (c: bigint) => {
  const neg = c < 0n;
  const a = neg ? -c : c;
  return `${neg ? "-" : ""}${a / 100n}.${String(a % 100n).padStart(2, "0")}`;
};

interface BillJson {
  invoices: { customer: string; plan: string | null; total: string; cost: string }[];
}

/** `limitr bill` at a commit: its policies exported from git, a private copy of the store (bill records credits). */
async function billAt(commit: string, name: string): Promise<BillJson> {
  const dest = join(repo.dir, "out", name);
  mkdirSync(dest, { recursive: true });
  execSync(`git archive ${commit} policies | tar -x -C ${JSON.stringify(dest)}`, { cwd: repo.dir });
  const db = join(dest, "usage.db");
  copyFileSync(repo.db, db);
  const r = await limitr(
    ["--db", db, "--policies", join(dest, "policies"), "bill", "--period", "2026-10", "--format", "json"],
    repo.dir,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as BillJson;
}

beforeAll(async () => {
  repo = makeRepo();
  baseCommit = repo.git("rev-parse", "HEAD");
  const { events, pro } = octoberEvents({ free: 40, pro: 25, perCustomer: 120, seed: 7 });
  await loadUsage(repo, events, pro);
  repo.edit(
    "plans.yaml",
    "overage: 0.000003          # $3 per million",
    "overage: 0.000005          # $5 per million",
  );
  headCommit = repo.commit("pro: raise chat_input overage");
});

describe("limitr simulate: revenue", () => {
  it("revenue change equals the head bill total minus the base bill total, per customer and per plan", async () => {
    const base = await billAt(baseCommit, "base");
    const head = await billAt(headCommit, "head");
    const r = await simulateBetween(repo, baseCommit, headCommit, "json");
    expect(r.exitCode, r.stderr).toBe(0);
    const sim = JSON.parse(r.stdout);
    expect(sim.formatVersion).toBe(1);
    expect(sim.base).toMatchObject({ ref: baseCommit, commit: baseCommit });
    expect(sim.head).toMatchObject({ ref: headCommit, commit: headCommit });
    expect(sim.base.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(sim.base.digest).not.toBe(sim.head.digest);
    expect(sim.period).toEqual({
      label: "2026-10",
      start: "2026-10-01T00:00:00.000-04:00",
      end: "2026-11-01T00:00:00.000-04:00",
    });

    const total = (b: BillJson) => b.invoices.reduce((s, i) => s + cents(i.total), 0n);
    const expectedChange = total(head) - total(base);
    expect(expectedChange > 0n).toBe(true);
    expect(sim.totals.base_revenue).toBe(fromCents(total(base)));
    expect(sim.totals.head_revenue).toBe(fromCents(total(head)));
    expect(sim.totals.revenue_change).toBe(fromCents(expectedChange));
    const pct = Number((expectedChange * 1_000_000n) / total(base)) / 10_000;
    expect(sim.totals.revenue_change_pct).toBeCloseTo(pct, 2);

    // Per customer: the difference of that customer's two invoices.
    const baseBy = new Map(base.invoices.map((i) => [i.customer, i]));
    const headBy = new Map(head.invoices.map((i) => [i.customer, i]));
    for (const c of sim.customers as {
      customer: string;
      base_revenue: string;
      head_revenue: string;
      revenue_change: string;
    }[]) {
      const b = cents(baseBy.get(c.customer)?.total ?? "0.00");
      const h = cents(headBy.get(c.customer)?.total ?? "0.00");
      expect([c.customer, c.revenue_change]).toEqual([c.customer, fromCents(h - b)]);
    }
    const changed = head.invoices.filter((i) => i.total !== baseBy.get(i.customer)?.total).length;
    expect(sim.totals.customers_affected).toBe(changed);

    // Per plan: invoices grouped by the plan each bill reports.
    for (const p of sim.plans as { plan: string; base_revenue: string; head_revenue: string }[]) {
      const sumPlan = (b: BillJson) =>
        b.invoices.filter((i) => (i.plan ?? "(no plan)") === p.plan).reduce((s, i) => s + cents(i.total), 0n);
      expect([p.plan, p.base_revenue, p.head_revenue]).toEqual([
        p.plan,
        fromCents(sumPlan(base)),
        fromCents(sumPlan(head)),
      ]);
    }
    // Only pro pays chat_input overage: enterprise does not move, and free only by the customer who left
    // pro mid-month (an invoice is grouped under the plan it ends the period on).
    const byPlan = Object.fromEntries(sim.plans.map((p: { plan: string }) => [p.plan, p]));
    const leaver = sim.customers.find((c: { customer: string }) => c.customer === "pro-000");
    expect([leaver.base_plan, leaver.head_plan]).toEqual(["free", "free"]);
    expect(byPlan.free.revenue_change).toBe(leaver.revenue_change);
    expect(byPlan.enterprise.revenue_change).toBe("0.00");
    expect(sim.totals.base_denied).toBe(sim.totals.head_denied);
    expect(sim.movers.up.length).toBeGreaterThan(0);
    expect(sim.movers.down).toEqual([]);
  });

  it("reads the store only: no credit is recorded and the file is unchanged", async () => {
    const before = readFileSync(repo.db);
    const mtime = statSync(repo.db).mtimeMs;
    const r = await simulateBetween(repo, baseCommit, headCommit, "json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(repo.db).equals(before)).toBe(true);
    expect(statSync(repo.db).mtimeMs).toBe(mtime);
  });

  it("head defaults to the work tree and base to HEAD when nothing was pushed", async () => {
    repo.edit(
      "plans.yaml",
      "overage: 0.000005          # $5 per million",
      "overage: 0.000003          # $3 per million",
    );
    const r = await repo.run("simulate", "--period", "2026-10", "--format", "json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("no pushed bundle found; comparing with HEAD");
    const sim = JSON.parse(r.stdout);
    expect(sim.base).toMatchObject({ ref: "HEAD", commit: headCommit });
    expect(sim.head).toMatchObject({ ref: "work tree", commit: null });
    // The work tree is the base commit's policy again: the change is the first test's, reversed.
    const back = await simulateBetween(repo, headCommit, baseCommit, "json");
    expect(sim.totals.revenue_change).toBe(JSON.parse(back.stdout).totals.revenue_change);
    repo.git("checkout", "--", "policies");
  });

  it("base defaults to the last pushed version", async () => {
    // The committed policy carries a price change the example's policy tests pin: publish it without them.
    const pushed = await repo.run("push", "--skip-tests", "--format", "json");
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    repo.edit(
      "plans.yaml",
      "overage: 0.000005          # $5 per million",
      "overage: 0.000009          # $9 per million",
    );
    const r = await repo.run("simulate", "--period", "2026-10", "--format", "json");
    expect(r.exitCode, r.stderr).toBe(0);
    const sim = JSON.parse(r.stdout);
    expect(sim.base.ref).toBe("pushed v1 (staging)");
    expect(sim.base.commit).toBe(headCommit);
    const atHead = await repo.run("simulate", "--base", "HEAD", "--period", "2026-10", "--format", "json");
    expect(sim.base.digest).toBe(JSON.parse(atHead.stdout).base.digest);
    expect(sim.totals.revenue_change).toBe(JSON.parse(atHead.stdout).totals.revenue_change);
    repo.git("checkout", "--", "policies");
  });
});
