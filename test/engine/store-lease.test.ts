import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/adapters/store/database.js";

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
