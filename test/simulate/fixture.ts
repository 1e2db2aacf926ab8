import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";

/**
 * A temp git repository holding the example policy (committed as the base)
 * and a usage store filled through the CLI (`usage import`, `customers set`).
 */
export interface SimRepo {
  dir: string;
  policies: string;
  db: string;
  run: (...args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;
  git: (...args: string[]) => string;
  /** Rewrite a policy file in the work tree with `edit` (a text replacement that must apply). */
  edit: (file: string, from: string, to: string) => void;
  commit: (message: string) => string;
}

/** `limitr simulate --base BASE --head HEAD --period 2026-10 --format FORMAT [...more]` in the repo. */
export function simulateBetween(
  repo: SimRepo,
  base: string,
  head: string,
  format = "json",
  ...more: string[]
) {
  return repo.run(
    "simulate",
    "--base",
    base,
    "--head",
    head,
    "--period",
    "2026-10",
    "--format",
    format,
    ...more,
  );
}

export function makeRepo(): SimRepo {
  const dir = mkdtempSync(join(tmpdir(), "limitr-simulate-"));
  const policies = join(dir, "policies");
  const db = join(dir, "usage.db");
  cpSync(join(REPO, "policies"), policies, { recursive: true });
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();
  git("init", "-q", "-b", "main");
  git("config", "user.email", "test@example.com");
  git("config", "user.name", "Test");
  git("config", "commit.gpgsign", "false");
  writeFileSync(join(dir, ".gitignore"), "*.db*\n*.ndjson\n*.csv\n.limitr/\nout/\n");
  const repo: SimRepo = {
    dir,
    policies,
    db,
    git,
    run: (...args) => limitr(["--db", db, "--policies", policies, ...args], dir),
    edit(file, from, to) {
      const path = join(policies, file);
      const text = readFileSync(path, "utf8");
      expect(text.includes(from), `${file} contains ${from}`).toBe(true);
      writeFileSync(path, text.replace(from, to));
    },
    commit(message) {
      git("add", "-A");
      git("commit", "-q", "-m", message);
      return git("rev-parse", "HEAD");
    },
  };
  repo.commit("base");
  return repo;
}

/** mulberry32: deterministic data without fixtures on disk. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Event {
  id: string;
  type: string;
  customer: string;
  timestamp: string;
  properties?: Record<string, unknown>;
}

const OCT_START = Date.parse("2026-10-02T00:00:00Z");
const OCT_SPAN = 28 * 86_400_000;

/**
 * October usage for the example policy: `free` self-serve customers (the
 * default plan), `pro` ones, and the contract customers; chat, API, MCP,
 * GPU and seat events in random order and amounts.
 */
export function octoberEvents(opts: { free: number; pro: number; perCustomer: number; seed: number }): {
  events: Event[];
  pro: string[];
} {
  const next = rng(opts.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T;
  const free = Array.from({ length: opts.free }, (_, i) => `free-${String(i).padStart(4, "0")}`);
  const pro = Array.from({ length: opts.pro }, (_, i) => `pro-${String(i).padStart(3, "0")}`);
  const customers = [...free, ...pro, "globex", "initech", "acme-holdings", "acme-research"];
  const events: Event[] = [];
  let n = 0;
  for (const customer of customers) {
    for (let k = 0; k < opts.perCustomer; k++) {
      const timestamp = new Date(OCT_START + Math.floor(next() * OCT_SPAN)).toISOString();
      const id = `e${n++}`;
      const r = next();
      if (r < 0.45) {
        const big = customer.startsWith("free") ? 3_000 : 400_000;
        events.push({
          id,
          type: "llm.completion",
          customer,
          timestamp,
          properties: {
            model: pick(["gpt-4o", "gpt-4o-mini", "claude-sonnet"]),
            input_tokens: Math.floor(next() * big),
            output_tokens: Math.floor((next() * big) / 4),
          },
        });
      } else if (r < 0.7) events.push({ id, type: "api.request", customer, timestamp });
      else if (r < 0.85)
        events.push({
          id,
          type: "mcp.tool_call",
          customer,
          timestamp,
          properties: { tool: pick(["web_search", "news_search", "calculator"]) },
        });
      else if (r < 0.93)
        events.push({
          id,
          type: "seat.active",
          customer,
          timestamp,
          properties: { user_id: `u${Math.floor(next() * 8)}` },
        });
      else
        events.push({
          id,
          type: "gpu.job",
          customer,
          timestamp,
          properties: { gpu: pick(["a100", "h100"]), seconds: Math.floor(next() * 900) },
        });
    }
  }
  return { events, pro };
}

/** Import events and put the `pro` customers on pro from September on, through the CLI. */
export async function loadUsage(repo: SimRepo, events: Event[], pro: string[]): Promise<void> {
  const file = join(repo.dir, "events.ndjson");
  writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
  const imported = await repo.run("usage", "import", file);
  expect(imported.exitCode, imported.stderr).toBe(0);
  if (pro.length === 0) return;
  const csv = join(repo.dir, "plans.csv");
  // One customer moves from pro to free mid-month: plan history must reach the replay.
  const rows = pro.map((c) => `${c},pro,2026-09-01`);
  if (pro[0]) rows.push(`${pro[0]},free,2026-10-15T12:00:00Z`);
  writeFileSync(csv, `customer,plan,at\n${rows.join("\n")}\n`);
  const set = await repo.run("customers", "import", csv);
  expect(set.exitCode, set.stderr).toBe(0);
}
