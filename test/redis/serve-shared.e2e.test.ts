import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { POLICIES, type Served, serve } from "../serve/serve-process.js";
import { connect, dropPrefix, REDIS_URL, testPrefix } from "./redis-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "limitr-serve-shared-"));
const servers: Served[] = [];
const prefix = testPrefix();
afterAll(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
  // The servers push their totals and give their leases back as they stop: the keys go after.
  const redis = await connect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

it("R16 two limitr serve processes on Redis leases never allow more than a hard limit in total", async () => {
  for (const name of ["a", "b"])
    servers.push(
      await serve([
        "--policies",
        POLICIES,
        "--db",
        join(dir, `${name}.db`),
        "--counters",
        REDIS_URL,
        "--counters-prefix",
        prefix,
        // One server syncs its totals every 200 ms, the other every tick: limits do not depend on it.
        ...(name === "a" ? ["--counters-sync-ms", "200"] : []),
      ]),
    );
  // The free plan's chat_input: a hard limit of 100,000 a month; calls of 1,000 from both servers at once.
  let allowed = 0;
  const reasons = new Map<string, number>();
  async function client(s: Served): Promise<void> {
    for (let attempts = 0; attempts < 2_000; attempts++) {
      const r = await s.post("/v1/decide", {
        customer: "shared-co",
        entitlement: "chat_input",
        amount: 1_000,
      });
      expect(r.status).toBe(200);
      const reason = String(r.body.reason);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      if (r.body.allowed === true) allowed++;
      else if (reason === "limit_exceeded") return;
      else {
        expect(reason).toBe("lease_pending"); // more allowance is on its way: ask again shortly
        await new Promise((done) => setTimeout(done, 5));
      }
    }
  }
  await Promise.all(servers.flatMap((s) => [client(s), client(s)]));
  // Zero overshoot. A client stops at its first limit_exceeded, which comes as soon as the pool has
  // nothing left to grant: allowance the other server still holds may be left unspent then
  // (at most its last slice; allowAsync/decideAsync in the library wait for it instead).
  expect(allowed).toBeLessThanOrEqual(100);
  expect(allowed).toBeGreaterThanOrEqual(98);
  expect(reasons.get("limit_exceeded")).toBeGreaterThanOrEqual(4);
});

it("--counters-sync-ms takes a whole number of milliseconds; anything else is a usage error naming the flag", async () => {
  for (const bad of ["0", "abc", "1.5"]) {
    const r = await limitr(["serve", "--policies", POLICIES, "--store", "memory", "--counters-sync-ms", bad]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain(`--counters-sync-ms must be an integer from 1 to 3600000 (got ${bad})`);
  }
});
