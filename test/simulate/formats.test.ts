import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Event, loadUsage, makeRepo, octoberEvents, type SimRepo, simulateBetween } from "./fixture.js";

/** Every output format, the guardrail exit codes, and the markdown size cap with thousands of customers. */
let repo: SimRepo;
let base: string;
let head: string;

beforeAll(async () => {
  repo = makeRepo();
  base = repo.git("rev-parse", "HEAD");
  const { events, pro } = octoberEvents({ free: 30, pro: 20, perCustomer: 100, seed: 3 });
  await loadUsage(repo, events, pro);
  repo.edit(
    "plans.yaml",
    "overage: 0.000003          # $3 per million",
    "overage: 0.000006          # $6 per million",
  );
  repo.edit(
    "plans.yaml",
    "        limit: 100000\n        mode: hard",
    "        limit: 20000\n        mode: hard",
  );
  head = repo.commit("pro overage up, free chat_input down");
});

const simulate = (...args: string[]) =>
  repo.run("simulate", "--base", base, "--head", head, "--period", "2026-10", ...args);

describe("limitr simulate: formats", () => {
  it("text: aligned tables with totals, plans and movers", async () => {
    const r = await simulate();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `Simulation of 2026-10: ${base} (${base.slice(0, 7)}) -> ${head} (${head.slice(0, 7)})`,
    );
    for (const heading of ["By plan", "Top movers up", "Newly blocked", "Customers affected"])
      expect(r.stdout).toContain(heading);
    expect(r.stdout.includes("\u001b[")).toBe(false); // no colour when not a TTY
    const lines = r.stdout.split("\n");
    const header = lines.findIndex((l) => l.startsWith("plan "));
    // Right-aligned columns: every row of the plan table is as wide as its rule line.
    const rule = lines[header + 1] as string;
    for (const l of lines.slice(header + 2, header + 5)) expect(l.length).toBe(rule.length);
  });

  it("json: the documented totals and money as decimal strings", async () => {
    const sim = JSON.parse((await simulate("--format", "json")).stdout);
    expect(Object.keys(sim.totals)).toEqual(
      expect.arrayContaining([
        "base_revenue",
        "head_revenue",
        "revenue_change",
        "revenue_change_pct",
        "base_denied",
        "head_denied",
        "customers_affected",
      ]),
    );
    for (const k of ["base_revenue", "head_revenue", "revenue_change"])
      expect(sim.totals[k]).toMatch(/^-?\d+\.\d{2}$/);
    expect(sim.plans.map((p: { plan: string }) => p.plan)).toEqual(["enterprise", "free", "pro"]);
    expect(sim.guardrail).toBeNull();
  });

  it("markdown: summary table first, details collapsed", async () => {
    const md = (await simulate("--format", "markdown")).stdout;
    const firstTable = md.indexOf("| **Revenue** |");
    expect(firstTable).toBeGreaterThan(0);
    expect(firstTable).toBeLessThan(md.indexOf("<details>"));
    expect(md).toContain("<summary>Revenue by plan (3)</summary>");
    expect(md).toContain("<summary>Customers newly blocked");
    expect(md.split("<details>").length).toBe(md.split("</details>").length);
  });

  it("html: one self-contained page with two SVG charts and the plan names", async () => {
    const r = await simulate("--format", "html", "--out", "out.html");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    const html = readFileSync(join(repo.dir, "out.html"), "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html.match(/<svg\b/g)?.length).toBe(2);
    expect(html.match(/<\/svg>/g)?.length).toBe(2);
    expect(html).toContain('aria-label="Revenue by plan, base and head"');
    expect(html).toMatch(/<rect [^>]*height="\d+(\.\d)?"/);
    // Offline: nothing fetched, nothing run.
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?https?:/i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\//);
    for (const name of ["Free (free)", "Pro (pro)", "Enterprise (enterprise)"]) expect(html).toContain(name);
    // Every opened table is closed: the page is well formed enough to read offline.
    expect(html.split("<table>").length).toBe(html.split("</table>").length);
  });
});

describe("limitr simulate --fail-on", () => {
  it("exits 4 naming the condition that tripped", async () => {
    const r = await simulate(
      "--fail-on",
      "revenue_change_pct < -5 || customers_newly_blocked > 0",
      "--format",
      "json",
    );
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain("guardrail tripped: customers_newly_blocked > 0");
    expect(r.stderr).not.toContain("revenue_change_pct < -5");
    const sim = JSON.parse(r.stdout);
    expect(sim.guardrail).toEqual({
      expression: "revenue_change_pct < -5 || customers_newly_blocked > 0",
      tripped: true,
      conditions: ["customers_newly_blocked > 0"],
    });
  });

  it("exits 0 when no condition holds", async () => {
    const r = await simulate("--fail-on", "revenue_change_pct < -5 || head_denied < base_denied");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("guardrail passed");
  });

  it("exits 64 on a syntax error or an unknown variable, before any work", async () => {
    const syntax = await simulate("--fail-on", "revenue_change_pct <");
    expect(syntax.exitCode).toBe(64);
    expect(syntax.stderr).toContain("syntax error");
    const unknown = await simulate("--fail-on", "revenue_drop > 5");
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toMatch(/Unknown variable: revenue_drop.*variables: revenue_change_pct/);
    const notBool = await simulate("--fail-on", "revenue_change");
    expect(notBool.exitCode).toBe(64);
    expect(notBool.stderr).toContain("not a condition");
  });
});

describe("limitr simulate --format markdown with thousands of customers", () => {
  it("stays under 60,000 characters and says how many rows were left out", async () => {
    const big = makeRepo();
    const baseRef = big.git("rev-parse", "HEAD");
    const events: Event[] = [];
    for (let i = 0; i < 3000; i++) {
      for (let k = 0; k < 3; k++) {
        events.push({
          id: `m${i}-${k}`,
          type: "llm.completion",
          customer: `self-serve-customer-${String(i).padStart(5, "0")}`,
          timestamp: new Date(Date.parse("2026-10-05T00:00:00Z") + (i * 3 + k) * 60_000).toISOString(),
          properties: { model: "gpt-4o-mini", input_tokens: 9000, output_tokens: 100 },
        });
      }
    }
    await loadUsage(big, events, []);
    big.edit(
      "plans.yaml",
      "        limit: 100000\n        mode: hard",
      "        limit: 10000\n        mode: hard",
    );
    const headRef = big.commit("free: 10k tokens");
    const r = await simulateBetween(big, baseRef, headRef, "markdown");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.length).toBeLessThan(60_000);
    // Each customer's second and third calls pass 10,000 tokens: 2 denials each.
    expect(r.stdout).toContain("| Denied calls | 0 | 6000 | +6000 |");
    expect(r.stdout).toContain("<summary>Customers newly blocked (3000)</summary>");
    expect(r.stdout).toMatch(/… and \d+ more customers/);
    expect(r.stdout.split("<details>").length).toBe(r.stdout.split("</details>").length);
  });
});
