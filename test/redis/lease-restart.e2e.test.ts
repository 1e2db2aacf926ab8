import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RedisLeases } from "../../src/engine/adapters/redis/lease-client.js";
import { LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";

// These tests restart a Redis server, so they start their own private one (a
// temporary directory, a free port) and never touch the shared server.
const dir = mkdtempSync(join(tmpdir(), "limitr-redis-"));
let server: ResultPromise | undefined;

const clients: Redis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  server?.kill("SIGKILL");
  await server;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A connection to the private server; its reconnect errors while the server restarts are expected. */
function client(port: number): Redis {
  const c = new Redis(port, "127.0.0.1");
  c.on("error", () => undefined);
  clients.push(c);
  return c;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function start(port: number, persistence: string[]): Promise<void> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", "", "--save", ""];
  server = execa("redis-server", [...args, ...persistence], { reject: false });
  await new Promise<void>((resolve, reject) => {
    server!.stdout!.on("data", (d: Buffer) => {
      if (String(d).includes("Ready to accept connections")) resolve();
    });
    server!.then((r) => reject(new Error(`redis-server exited: ${r.stdout}`)));
  });
}

/** A clean shutdown (SIGTERM: what persistence is configured is written) and a start on the same port. */
async function restart(port: number, persistence: string[]): Promise<void> {
  server!.kill("SIGTERM");
  await server;
  await start(port, persistence);
}

const params = { ...LEASE_DEFAULTS, maxSlice: 100 };
const pool = { counter: "restart", periodStart: 0, periodEnd: null };

describe("R16 a Redis server restarted under the leases (a private server)", () => {
  it("R16 without persistence the pool is gone: what holders still held is at risk until their next report tells them", async () => {
    const port = await freePort();
    await start(port, ["--appendonly", "no"]);
    const a = new RedisLeases(client(port), { params, holder: "a" });
    const first = await a.acquire(pool, { limit: 1_000, need: 1, rate: 1_000 });
    expect(first.granted).toBe(100);
    const held = (await a.report(pool, 30)).allowance;
    expect(held).toBe(70);
    await restart(port, []);
    // The pool is created again from `base`: the 30 units the system of record knows of.
    const b = new RedisLeases(client(port), { params, holder: "b" });
    const again = await b.acquire(pool, { limit: 1_000, need: 1, rate: 0, base: 30 });
    expect(again.remainder + again.allowance).toBe(970);
    // a still holds 70 it believes are its own: at most holders x maxSlice can be spent twice.
    expect(30 + held + again.remainder + again.allowance - 1_000).toBe(held);
    expect(held).toBeLessThanOrEqual(params.maxSlice);
    // a's next report (the scripts load again by themselves) says it holds nothing: it stops there,
    // and the 10 units it reports still count in the new pool.
    const lost = await a.report(pool, 10);
    expect(lost).toMatchObject({ returned: 0, allowance: 0, expiresAt: 0 });
    expect(lost.remainder + again.allowance).toBe(960);
  });

  it("R16 with AOF persistence the pool survives a restart and every lease carries on", async () => {
    const port = await freePort();
    const aof = ["--appendonly", "yes", "--appendfsync", "always"];
    await start(port, aof);
    const a = new RedisLeases(client(port), { params, holder: "a" });
    const first = await a.acquire(pool, { limit: 1_000, need: 1, rate: 1_000 });
    await restart(port, aof);
    const r = await a.report(pool, 30);
    expect(r.allowance).toBe(first.granted - 30);
    const released = await a.release(pool, 5);
    expect(released.returned).toBe(first.granted - 35);
    expect(await a.totals(pool)).toEqual({ limit: 1_000, consumed: 35, outstanding: 0, holders: 0 });
  });
});
