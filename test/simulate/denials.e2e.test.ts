import { execSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DateTime } from "luxon";
import { beforeAll, describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { loadUsage, makeRepo, octoberEvents, type SimRepo, simulateBetween } from "./fixture.js";

/**
 * A head that lowers the free plan's hard limits. The expected denials come
 * from a replay written here by hand for the example policy: events read with
 * one plain ORDER BY query, an explicit event-to-entitlement table, and the
 * engine's public check/record/setPlan driven directly.
 */
let repo: SimRepo;
let baseCommit: string;
let headCommit: string;

const ZONE = "America/New_York";
const START = DateTime.fromISO("2026-10-01", { zone: ZONE }).toMillis();
const END = DateTime.fromISO("2026-11-01", { zone: ZONE }).toMillis();

interface Row {
  type: string;
  customer: string;
  ts: number;
  properties: string | null;
}

/** Which entitlements of the example plans an event counts toward, and by how much. */
function uses(type: string, p: Record<string, unknown>): [entitlement: string, amount: number | "unique"][] {
  if (type === "llm.completion")
    return [
      ["chat_input", Number(p.input_tokens)],
      ["chat_output", Number(p.output_tokens)],
    ];
  if (type === "api.request") return [["api", 1]];
  if (type === "mcp.tool_call")
    return p.tool === "web_search" || p.tool === "news_search" ? [["mcp_search", 1]] : [];
  if (type === "seat.active") return [["seats", "unique"]];
  return [];
}

async function denialsUnder(commit: string, name: string): Promise<Map<string, number>> {
  const dest = join(repo.dir, "out", `replay-${name}`);
  mkdirSync(dest, { recursive: true });
  execSync(`git archive ${commit} policies | tar -x -C ${JSON.stringify(dest)}`, { cwd: repo.dir });
  const engine = await Limitr.open({ policy: loadValidPolicy(join(dest, "policies")), store: "memory" });
  const db = new Database(repo.db, { readonly: true });
  const denied = new Map<string, number>();
  try {
    for (const s of db.prepare("SELECT customer, effective_at, plan FROM subscriptions").all() as {
      customer: string;
      effective_at: number;
      plan: string;
    }[])
      engine.setPlan(s.customer, s.plan, { at: s.effective_at });
    // Seats are distinct users per customer and month; everything here is October.
    const seats = new Map<string, Set<string>>();
    const rows = db
      .prepare("SELECT type, customer, ts, properties FROM events WHERE ts >= ? AND ts < ? ORDER BY ts, seq")
      .all(START, END) as Row[];
    for (const e of rows) {
      const props = e.properties ? (JSON.parse(e.properties) as Record<string, string | number>) : {};
      const seen = seats.get(e.customer) ?? new Set<string>();
      let refused = false;
      for (const [ent, amount] of uses(e.type, props)) {
        const n = amount === "unique" ? (seen.has(String(props.user_id)) ? 0 : 1) : amount;
        if (n > 0 && engine.check(e.customer, ent, n, { now: e.ts }).reason === "limit_exceeded")
          refused = true;
      }
      if (refused) {
        denied.set(e.customer, (denied.get(e.customer) ?? 0) + 1);
        continue;
      }
      const recorded = engine.record({
        type: e.type,
        customer: e.customer,
        timestamp: e.ts,
        properties: props,
      });
      if (recorded.counted.some((c) => c.entitlement === "seats"))
        seats.set(e.customer, seen.add(String(props.user_id)));
    }
  } finally {
    db.close();
    await engine.close();
  }
  return denied;
}

beforeAll(async () => {
  repo = makeRepo();
  baseCommit = repo.git("rev-parse", "HEAD");
  const { events, pro } = octoberEvents({ free: 40, pro: 15, perCustomer: 150, seed: 11 });
  await loadUsage(repo, events, pro);
  repo.edit(
    "plans.yaml",
    "        limit: 100000\n        mode: hard",
    "        limit: 30000\n        mode: hard",
  );
  repo.edit(
    "plans.yaml",
    "        limit: 1000\n        period: day",
    "        limit: 3\n        period: day",
  );
  repo.edit("plans.yaml", "        limit: 100\n        mode: hard", "        limit: 5\n        mode: hard");
  headCommit = repo.commit("free: lower the hard limits");
});

describe("limitr simulate: denials", () => {
  // pro-000 moves from pro to free mid-month: the chat tokens it used under pro's soft limit count against
  // free's hard limit from then on (a counter belongs to the entitlement, not the plan).
  it("head_denied, per-customer denials and newly blocked customers match an independent replay", async () => {
    const base = await denialsUnder(baseCommit, "base");
    const head = await denialsUnder(headCommit, "head");
    const r = await simulateBetween(repo, baseCommit, headCommit, "json", "--full-replay");
    expect(r.exitCode, r.stderr).toBe(0);
    const sim = JSON.parse(r.stdout);
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    expect(sum(head)).toBeGreaterThan(sum(base));
    expect(sim.totals.base_denied).toBe(sum(base));
    expect(sim.totals.head_denied).toBe(sum(head));
    expect(sim.totals.denied_change).toBe(sum(head) - sum(base));

    const simDenied = (side: "base_denied" | "head_denied") =>
      new Map(
        (sim.customers as Record<string, unknown>[])
          .filter((c) => (c[side] as number) > 0)
          .map((c) => [c.customer as string, c[side] as number]),
      );
    expect(simDenied("base_denied")).toEqual(base);
    expect(simDenied("head_denied")).toEqual(head);

    const newly = [...head.keys()].filter((c) => !base.has(c)).sort();
    expect(newly.length).toBeGreaterThan(5);
    expect(base.size).toBeGreaterThan(0);
    expect(sim.newly_blocked.map((c: { customer: string }) => c.customer).sort()).toEqual(newly);
    expect(sim.totals.customers_newly_blocked).toBe(newly.length);
    // Free plans cost nothing: fewer counted tokens change no invoice, so only denials make a customer affected.
    const affected = new Set([...head.keys(), ...base.keys()].filter((c) => head.get(c) !== base.get(c)));
    expect(sim.totals.revenue_change).toBe("0.00");
    expect(sim.totals.customers_affected).toBe(affected.size);
  });

  it("the pro plan's seat limit (distinct users) denies only new users past the limit", async () => {
    const base = await denialsUnder(baseCommit, "base-seats");
    const r = await simulateBetween(repo, baseCommit, baseCommit, "json", "--full-replay");
    const sim = JSON.parse(r.stdout);
    const pro = (
      sim.customers as { customer: string; base_denied: number; head_denied_by: Record<string, number> }[]
    ).filter((c) => c.customer.startsWith("pro-"));
    expect(pro.filter((c) => (c.head_denied_by.seats ?? 0) > 0).length).toBeGreaterThan(3);
    for (const c of pro) expect([c.customer, c.base_denied]).toEqual([c.customer, base.get(c.customer) ?? 0]);
    // Same policy on both sides: nothing moves.
    expect(sim.totals.customers_affected).toBe(0);
    expect(sim.totals.revenue_change).toBe("0.00");
  });

  it("by default leaves out limits whose enforcement did not change, and the rest matches the full replay", async () => {
    const [skipped, full] = await Promise.all([
      simulateBetween(repo, baseCommit, headCommit, "json"),
      simulateBetween(repo, baseCommit, headCommit, "json", "--full-replay"),
    ]);
    expect(skipped.exitCode, skipped.stderr).toBe(0);
    const part = JSON.parse(skipped.stdout);
    const all = JSON.parse(full.stdout);
    expect(all.not_replayed).toEqual([]);
    // pro's seat limit is the same on both sides and no event type ties it to a changed limit.
    expect(part.not_replayed).toContain("seats");
    type Row = {
      customer: string;
      base_denied_by: Record<string, number>;
      head_denied_by: Record<string, number>;
    };
    const byCustomer = (sim: { customers: Row[] }) => new Map(sim.customers.map((c) => [c.customer, c]));
    const fullRows = byCustomer(all);
    const replayed = (by: Record<string, number>) =>
      Object.fromEntries(Object.entries(by).filter(([e]) => !part.not_replayed.includes(e)));
    let compared = 0;
    for (const c of part.customers as Row[]) {
      for (const e of Object.keys(c.head_denied_by)) expect(part.not_replayed).not.toContain(e);
      const f = fullRows.get(c.customer);
      expect(c.head_denied_by).toEqual(replayed(f?.head_denied_by ?? {}));
      compared += Object.keys(c.head_denied_by).length;
    }
    expect(compared).toBeGreaterThan(5);
    // Revenue figures never depend on the replay.
    expect(part.totals.revenue_change).toBe(all.totals.revenue_change);
  });

  it("the same policy on both sides replays nothing", async () => {
    const r = await simulateBetween(repo, baseCommit, baseCommit, "text");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /entitlement\(s\) with the same enforcement under both were not replayed \(.*seats/,
    );
    const sim = JSON.parse((await simulateBetween(repo, baseCommit, baseCommit, "json")).stdout);
    expect(sim.totals.base_denied).toBe(0);
    expect(sim.totals.head_denied).toBe(0);
  });
});
