import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import type { PolicyNotice } from "../../src/engine/runtime/events.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import type { LimitrOptions } from "../../src/engine/runtime/options.js";
import { StaticServer } from "../helpers/static-server.js";
import { commitAll, edit, git, limitr, makeRepo, readJson } from "./helpers.js";

/**
 * The whole GitOps loop with the real CLI, real git and a real HTTP host:
 * commit, push signed bundles, serve the store statically, and watch a
 * running engine follow pushes and rollbacks, refuse bad bundles (R15) and
 * cold-start from its persisted bundle when the host is down.
 */
const OCT = { now: Date.parse("2026-10-05T12:00:00Z") };
const SIGN = ["--sign-key", ".limitr/keys/limitr-signing.pem"];
const until = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 20 });

let dir: string;
let cleanup: () => void;
let dbDir: string;
let server: StaticServer;
let engine: Limitr;
let options: LimitrOptions;
const notices: PolicyNotice[] = [];
const commits: Record<string, string> = {};
const digests: Record<number, string> = {};
const store = () => join(dir, ".limitr/bundles/staging");

beforeAll(async () => {
  ({ dir, cleanup } = await makeRepo({ tests: false }));
  dbDir = mkdtempSync(join(tmpdir(), "limitr-e2e-db-"));
  commits.v1 = (await git(dir, "rev-parse", "HEAD")).trim();
});
afterAll(async () => {
  await engine?.close();
  await server?.stop();
  cleanup();
  rmSync(dbDir, { recursive: true, force: true });
});

function storedVersions(): number[] {
  const db = openDatabase(join(dbDir, "usage.db"), { readonly: true });
  try {
    const rows = db.prepare("SELECT bundle_version AS v FROM events ORDER BY seq").all() as { v: number }[];
    return rows.map((r) => r.v);
  } finally {
    db.close();
  }
}

describe("live bundle reload, end to end", () => {
  it("an engine opens on signed version 1 served over HTTP", async () => {
    expect((await limitr(dir, ["keys", "generate"])).code).toBe(0);
    const push = await limitr(dir, ["push", ...SIGN]);
    expect(push.stdout).toContain("version 1");
    digests[1] = readJson(join(store(), "current.json")).manifest.digest;
    server = await new StaticServer(join(dir, ".limitr/bundles")).start();
    options = {
      policy: {
        store: server.url,
        env: "staging",
        publicKeys: [readFileSync(join(dir, ".limitr/keys/limitr-signing.pub.pem"), "utf8")],
        pollMs: 150,
      },
      store: `sqlite:${join(dbDir, "usage.db")}`,
    };
    engine = await Limitr.open(options);
    engine.on("policy", (n) => notices.push(n));
    engine.setPlan("p1", "pro", { at: "2026-10-01T00:00:00-04:00" });
    expect(engine.decide("p1", "chat_input", 2_000_000, OCT)).toMatchObject({ price: "0", version: 1 });
    expect(engine.decide("p1", "chat_input", 1000, OCT)).toMatchObject({
      price: "0.003",
      used: 2_001_000,
      version: 1,
      digest: digests[1],
    });
    expect(engine.status()).toMatchObject({ activeVersion: 1, source: "store", policyError: null });
  });

  it("a pushed price change is live within a few polls; counters carry on", async () => {
    edit(join(dir, "policies/plans.yaml"), "overage: 0.000003 ", "overage: 0.000004 ");
    commits.v2 = await commitAll(dir, "pro: raise chat overage");
    expect((await limitr(dir, ["push", ...SIGN])).code).toBe(0);
    digests[2] = readJson(join(store(), "current.json")).manifest.digest;
    await until(() => expect(engine.status().activeVersion).toBe(2));
    expect(engine.status().activeDigest).toBe(digests[2]);
    expect(engine.decide("p1", "chat_input", 1000, OCT)).toMatchObject({
      price: "0.004",
      used: 2_002_000,
      version: 2,
      digest: digests[2],
    });
    expect(notices.at(-1)).toMatchObject({ type: "activated", version: 2, previousVersion: 1 });
  });

  it("`limitr rollback` publishes version 3 with version 1's content, and the engine follows", async () => {
    const r = await limitr(dir, ["rollback", ...SIGN]);
    expect(r.code).toBe(0);
    await until(() => expect(engine.status().activeVersion).toBe(3));
    expect(engine.status().activeDigest).toBe(digests[1]);
    expect(engine.decide("p1", "chat_input", 1000, OCT)).toMatchObject({
      price: "0.003",
      used: 2_003_000,
      version: 3,
      digest: digests[1],
    });
  });

  it("R15 a tampered blob, an untrusted signer and an older version are each rejected; version 3 keeps serving", async () => {
    // Version 4 is published behind a frozen pointer, its blob corrupted, then the pointer released.
    server.override("staging/current.json", readFileSync(join(store(), "current.json"), "utf8"));
    edit(join(dir, "policies/plans.yaml"), "price: 49", "price: 59");
    await commitAll(dir, "pro: $59");
    expect((await limitr(dir, ["push", "--force", ...SIGN])).code).toBe(0);
    const v4 = readJson(join(store(), "versions/4.json"));
    const blob = join(store(), v4.blob);
    writeFileSync(blob, readFileSync(blob, "utf8").replace('"price":"59"', '"price":"5"'));
    server.override("staging/current.json", null);
    await until(() => expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "digest_mismatch" }));
    expect(engine.status().policyError).toMatch(/does not match manifest/);

    expect((await limitr(dir, ["keys", "generate", "--name", "rogue"])).code).toBe(0);
    edit(join(dir, "policies/plans.yaml"), "price: 59", "price: 69");
    await commitAll(dir, "pro: $69");
    const rogue = await limitr(dir, ["push", "--sign-key", ".limitr/keys/rogue.pem"]);
    expect(rogue.stdout).toContain("version 5");
    await until(() =>
      expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "unknown_key", version: 5 }),
    );
    expect(engine.status().policyError).toMatch(/not trusted/);

    server.override("staging/current.json", readFileSync(join(store(), "versions/2.json"), "utf8"));
    await until(() =>
      expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "stale_version", version: 2 }),
    );
    expect(engine.status().policyError).toMatch(/version 2 is older than the active version 3/);

    expect(engine.status()).toMatchObject({ activeVersion: 3, activeDigest: digests[1] });
    expect(engine.decide("p1", "chat_input", 1000, OCT)).toMatchObject({ price: "0.003", version: 3 });
  });

  it("with the host down, a restarted engine serves the persisted bundle and says why", async () => {
    await server.stop();
    await engine.close();
    expect(storedVersions()).toEqual([1, 1, 2, 3, 3]); // R14: each event with the bundle it was decided under
    engine = await Limitr.open(options);
    expect(engine.status()).toMatchObject({
      activeVersion: 3,
      activeDigest: digests[1],
      source: "cache",
      lastSuccessAt: null,
      policyError: expect.stringMatching(/cannot fetch http:\/\/127\.0\.0\.1:\d+\/staging\/current\.json/),
    });
    expect(engine.usage("p1", "chat_input", OCT).used).toBe(2_004_000);
    expect(engine.decide("p1", "chat_input", 1000, OCT)).toMatchObject({ price: "0.003", version: 3 });
  });

  it("`limitr diff` between the v1 and v2 commits shows the price change as breaking", async () => {
    const r = await limitr(dir, ["diff", commits.v1 as string, commits.v2 as string]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/~ plans\.pro\.entitlements\.chat_input\s+! breaking/);
    expect(r.stdout).toContain("! breaking: overage price raised");
  });
});
