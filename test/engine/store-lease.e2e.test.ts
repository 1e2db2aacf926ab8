import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

/**
 * The SQLite owner lock is a lease with a fence (docs/engine.md, "One engine
 * per store file"). Real OS processes: one is paused (SIGSTOP) past its
 * lease, another takes the store over, and the first must not go on
 * deciding from its own stale counters when it resumes.
 */
const CHILD = join(import.meta.dirname, "../helpers/engine-process.mjs");
const LEASE_MS = 1500;

interface Engine {
  proc: ChildProcessWithoutNullStreams;
  send(line: string): Promise<Record<string, unknown>>;
}

const procs: ChildProcessWithoutNullStreams[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) {
    if (p.exitCode === null) {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function engine(db: string): Promise<Engine & { opened: Record<string, unknown> }> {
  const proc = spawn(process.execPath, [CHILD, db, String(LEASE_MS)], { stdio: "pipe" });
  procs.push(proc);
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`engine process ended: ${proc.stderr.read()?.toString() ?? ""}`);
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  const opened = await next();
  return {
    proc,
    opened,
    send: async (line) => {
      proc.stdin.write(`${line}\n`);
      return next();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stored(db: string): { events: number; used: number } {
  const d = openDatabase(db, { readonly: true });
  try {
    const events = d.prepare("SELECT count(*) FROM events").pluck().get() as number;
    const used = (d.prepare("SELECT used FROM counters").pluck().get() as number | undefined) ?? 0;
    return { events, used };
  } finally {
    d.close();
  }
}

describe("store owner lease (real processes, SIGSTOP past the lease)", () => {
  it("a paused engine that lost its lease refuses decisions (store_lease_lost) until it takes the store back and reloads; the hard limit holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-lease-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");

    const a = await engine(db);
    expect(a.opened.opened).toBe(true);
    expect(await a.send("allow 300")).toMatchObject({ allowed: 300 });
    await a.send("flush");

    // While A is live and renewing, nobody else gets the store.
    const early = await engine(db);
    expect(early.opened).toMatchObject({
      opened: false,
      error: expect.stringMatching(/InputError: .*in use/),
    });

    a.proc.kill("SIGSTOP");
    await sleep(LEASE_MS + 700);

    const b = await engine(db);
    expect(b.opened.opened).toBe(true);
    expect(await b.send("allow 1000")).toMatchObject({
      allowed: 700,
      reasons: { ok: 700, limit_exceeded: 300 },
    });
    await b.send("flush");

    a.proc.kill("SIGCONT");
    const resumed = await a.send("allow 500");
    expect(resumed).toEqual({ allowed: 0, reasons: { store_lease_lost: 500 } });
    expect(await a.send("status")).toMatchObject({
      storeLease: "lost",
      lastError: expect.stringMatching(/store lease lost/),
    });
    expect(stored(db)).toEqual({ events: 1000, used: 1000 });

    // B lets go; A takes the store back within a renewal period and decides from the reloaded counters.
    await b.send("close");
    await sleep(LEASE_MS);
    expect(await a.send("allow 100")).toEqual({ allowed: 0, reasons: { limit_exceeded: 100 } });
    expect(await a.send("status")).toMatchObject({ storeLease: "held" });
    await a.send("close");
    expect(stored(db)).toEqual({ events: 1000, used: 1000 });
  }, 30_000);
});

describe("store owner lease: the flush-time fence", () => {
  it("a batch written after another engine took the store over stores its events but not its counters, and fences the engine", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-lease-"));
    dirs.push(dir);
    const db = join(dir, "usage.db");
    const policy = compilePolicy({
      limitr: 1,
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 1000 } } } },
    });
    const at = { now: Date.parse("2026-10-05T12:00:00Z") };
    const limitr = await Limitr.open({ policy, store: `sqlite:${db}`, storeLeaseMs: 60_000, alerts: false });
    try {
      expect(limitr.allow("c1", "api", 5, at)).toBe(true);
      await limitr.flush();
      // Another engine's row replaces this one's, as a takeover does.
      const other = openDatabase(db);
      const mine = JSON.parse(
        other.prepare("SELECT value FROM meta WHERE key = 'engine.owner'").pluck().get() as string,
      );
      other
        .prepare("UPDATE meta SET value = ? WHERE key = 'engine.owner'")
        .run(JSON.stringify({ ...mine, token: "someone-else", heartbeat: Date.now() }));
      other.prepare("UPDATE counters SET used = 900").run();
      other.close();
      // An explicit `now` in the past skips the per-call check: the flush is what catches it.
      expect(limitr.allow("c1", "api", 7, at)).toBe(true);
      await limitr.flush();
      expect(limitr.status()).toMatchObject({
        storeLease: "lost",
        lastError: expect.stringMatching(/store lease lost/),
      });
      expect(limitr.decide("c1", "api", 1, at)).toMatchObject({ allowed: false, reason: "store_lease_lost" });
      expect(limitr.reserve("c1", "api", 1, at)).toBeNull();
      expect(limitr.record({ type: "api.request", customer: "c1", timestamp: at.now }).counted).toEqual([]);
      await limitr.flush();
      expect(stored(db)).toEqual({ events: 3, used: 900 });
    } finally {
      limitr.closeSync();
    }
  });
});
