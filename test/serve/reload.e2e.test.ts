import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { apiPolicy, keyPair, pushVersion, removeTempDirs, tempDir } from "../engine/reload-helpers.js";
import { serve } from "./serve-process.js";

afterAll(removeTempDirs);

const until = (check: () => Promise<void>) => vi.waitFor(check, { timeout: 8000, interval: 50 });

it("R15 --bundle-url: follows a push without a restart, keeps the last good bundle on a bad one", async () => {
  const root = tempDir();
  const { privateKey, publicPem } = keyPair();
  const pub = join(root, "signing.pub.pem");
  writeFileSync(pub, publicPem);
  await pushVersion(root, "production", apiPolicy(100, "0.01"), privateKey);
  const s = await serve([
    "--bundle-url",
    join(root, "production"),
    "--public-key",
    pub,
    "--poll-ms",
    "100",
    "--store",
    "memory",
  ]);
  try {
    expect((await s.get("/readyz")).body).toMatchObject({ status: "ready", version: 1, source: "store" });
    const v1 = await s.get("/v1/customers/c1/usage");
    expect(v1.body.entitlements).toEqual([
      expect.objectContaining({ entitlement: "api", kind: "metered", limit: 100 }),
    ]);

    const v2 = compilePolicy({
      limitr: 1,
      name: "reload-test",
      timezone: "UTC",
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: {
        free: {
          default: true,
          entitlements: {
            api: { meter: "calls", limit: 500, mode: "soft", overage: 0.02 },
            batch: { meter: "calls", limit: 7, mode: "hard" },
          },
        },
      },
    });
    await pushVersion(root, "production", v2, privateKey);
    await until(async () => {
      expect((await s.get("/readyz")).body).toMatchObject({ version: 2 });
    });
    await until(async () => {
      const usage = await s.get("/v1/customers/c1/usage");
      expect(usage.body).toMatchObject({ version: 2 });
      expect((usage.body.entitlements as { entitlement: string }[]).map((e) => e.entitlement)).toEqual([
        "api",
        "batch",
      ]);
    });
    const d = await s.post("/v1/decide", { customer: "c1", entitlement: "batch", amount: 8 });
    expect(d.body).toMatchObject({ allowed: false, reason: "limit_exceeded", limit: 7, version: 2 });

    // Signed with a key the server does not trust: rejected, version 2 stays active and ready.
    await pushVersion(root, "production", apiPolicy(1, "9"), keyPair().privateKey);
    await until(async () => {
      expect((await s.get("/metrics")).text).toMatch(/limitr_bundle_reloads_total\{outcome="rejected"\} 1/);
    });
    const metrics = (await s.get("/metrics")).text;
    expect(metrics).toMatch(/limitr_bundle_version 2/);
    expect(metrics).toMatch(/limitr_bundle_error 1/);
    expect(metrics).toMatch(/limitr_bundle_reloads_total\{outcome="activated"\} 1/);
    expect(metrics).toMatch(
      /limitr_decisions_total\{op="decide",entitlement="batch",reason="limit_exceeded"\} 1/,
    );
    expect((await s.get("/readyz")).body).toMatchObject({ status: "ready", version: 2 });
  } finally {
    expect(await s.stop()).toBe(0);
  }
});
