/**
 * The SQLite engine store across engines and processes: the owner lock (one
 * engine per store file), readers that the lock never blocks, and the
 * synchronous flush when a process exits without closing its engine.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { InputError } from "../../src/engine/core/errors.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

const repo = resolve(import.meta.dirname, "../..");
const policyDoc = {
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 100 } } } },
};
const policy = compilePolicy(policyDoc);
const NOW = { now: Date.parse("2026-10-05T12:00:00Z") };

const dirs: string[] = [];
const engines: Limitr[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), "limitr-store-"));
  dirs.push(d);
  return join(d, "usage.db");
}

/** A child process that opens an engine on `db`, counts 5 units, then does `then`. */
function childScript(db: string, then: "wait" | "exit"): string {
  const file = join(dirs[dirs.length - 1] as string, `child-${then}.mts`);
  writeFileSync(
    file,
    `import { Limitr } from ${JSON.stringify(join(repo, "src/engine/runtime/limitr.ts"))};
const limitr = await Limitr.open({ policy: ${JSON.stringify(policy)}, store: ${JSON.stringify(`sqlite:${db}`)} });
limitr.allow("c1", "api", 5, { now: ${NOW.now} });
${then === "exit" ? "process.exit(0);" : 'console.log("ready"); setInterval(() => {}, 1000);'}
`,
  );
  return file;
}

describe("one engine per SQLite store", () => {
  it("a second engine on the same file is refused with what to do, until the first closes", async () => {
    const db = dbPath();
    const first = await Limitr.open({ policy, store: `sqlite:${db}` });
    const refused = Limitr.open({ policy, store: `sqlite:${db}` });
    await expect(refused).rejects.toThrow(InputError);
    await expect(Limitr.open({ policy, store: `sqlite:${db}` })).rejects.toThrow(/one engine per store file/);
    first.allow("c1", "api", 3, NOW);
    await first.close();
    const second = await Limitr.open({ policy, store: `sqlite:${db}` });
    engines.push(second);
    expect(second.usage("c1", "api", NOW).used).toBe(3);
  });

  it("a read-only reader is not blocked while an engine owns the store", async () => {
    const db = dbPath();
    const limitr = await Limitr.open({ policy, store: `sqlite:${db}`, durability: "sync" });
    engines.push(limitr);
    limitr.allow("c1", "api", 2, NOW);
    const reader = openDatabase(db, { readonly: true });
    try {
      expect(reader.prepare("SELECT used FROM counters").pluck().get()).toBe(2);
    } finally {
      reader.close();
    }
  });

  it("another process holding the store refuses this one; once it is gone the store opens again", async () => {
    const db = dbPath();
    const child = execa("node", ["--import", "tsx", childScript(db, "wait")], { cwd: repo, reject: false });
    await new Promise<void>((done, fail) => {
      child.stdout?.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && done());
      void child.then((r) => fail(new Error(`child exited early: ${r.stderr}`)));
    });
    await expect(Limitr.open({ policy, store: `sqlite:${db}` })).rejects.toThrow(
      /in use by another limitr engine \(pid/,
    );
    child.kill("SIGKILL");
    await child;
    // The holder died without closing: its pid is gone, so the lock is stale. Its unflushed batch is lost.
    const limitr = await Limitr.open({ policy, store: `sqlite:${db}` });
    engines.push(limitr);
    expect(limitr.usage("c1", "api", NOW).used).toBe(0);
  }, 30_000);

  it("a process that exits without closing its engine flushes the write-behind batch on exit", async () => {
    const db = dbPath();
    const run = await execa("node", ["--import", "tsx", childScript(db, "exit")], {
      cwd: repo,
      reject: false,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const limitr = await Limitr.open({ policy, store: `sqlite:${db}` });
    engines.push(limitr);
    expect(limitr.usage("c1", "api", NOW).used).toBe(5);
  }, 30_000);
});
