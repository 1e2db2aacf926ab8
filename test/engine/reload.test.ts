import {
  copyFileSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { type BundleRecord, blobPath } from "../../src/engine/core/bundles/manifest.js";
import { jitteredDelay } from "../../src/engine/runtime/bundle-loader.js";
import type { PolicyNotice } from "../../src/engine/runtime/events.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import type { LimitrOptions } from "../../src/engine/runtime/options.js";
import { StaticServer } from "../helpers/static-server.js";
import { apiPolicy, keyPair, pushVersion, removeTempDirs, tempDir } from "./reload-helpers.js";

const ENV = "production";
const engines: Limitr[] = [];
const servers: StaticServer[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const s of servers.splice(0)) await s.stop();
  removeTempDirs();
});

async function open(options: LimitrOptions): Promise<Limitr> {
  const e = await Limitr.open(options);
  engines.push(e);
  return e;
}

async function serve(root: string): Promise<StaticServer> {
  const s = await new StaticServer(root).start();
  servers.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = (check: () => void, timeout = 5000) => vi.waitFor(check, { timeout, interval: 10 });

describe("loading and polling a bundle store", () => {
  it("R14 opens on the environment's current bundle and decisions carry its version and digest", async () => {
    const root = tempDir();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const limitr = await open({ policy: { store: root, env: ENV, pollMs: 50 }, store: "memory" });
    expect(limitr.decide("c1", "api")).toMatchObject({
      allowed: true,
      version: 1,
      digest: v1.manifest.digest,
    });
    expect(limitr.status()).toMatchObject({
      activeVersion: 1,
      activeDigest: v1.manifest.digest,
      source: "store",
      policyError: null,
    });
    expect(v1.manifest.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("`url` names the environment directly (SPEC §4); the cache file takes its last segment", async () => {
    const root = tempDir();
    const cacheDir = tempDir();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    const limitr = await open({ policy: { url: `${server.url}/${ENV}/`, cacheDir }, store: "memory" });
    expect(limitr.status()).toMatchObject({ activeVersion: 1, activeDigest: v1.manifest.digest });
    expect(readdirSync(cacheDir)).toEqual([`${ENV}.json`]);
  });

  it("refuses to open on nothing: an empty store and no cached bundle, or a store without env", async () => {
    const root = tempDir();
    await expect(Limitr.open({ policy: { store: root, env: ENV }, store: "memory" })).rejects.toThrow(
      /cannot load a policy bundle from .*production: .*current\.json does not exist: nothing was pushed/,
    );
    await expect(Limitr.open({ policy: { store: root }, store: "memory" })).rejects.toThrow(
      /policy\.env is required with policy\.store/,
    );
    await expect(
      Limitr.open({ policy: { store: root, env: ENV, publicKeys: ["nope"] }, store: "memory" }),
    ).rejects.toThrow(/publicKeys must be PEM public keys/);
  });

  it("a directory store is polled: a push is live within a few intervals", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const limitr = await open({ policy: { store: root, env: ENV, pollMs: 30 }, store: "memory" });
    const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.7"), null);
    await until(() => expect(limitr.status().activeVersion).toBe(2));
    expect(limitr.decide("c1", "api")).toMatchObject({ version: 2, digest: v2.manifest.digest, limit: 20 });
  });

  it("ETag: an unchanged pointer costs a 304 and the blob is fetched once", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    await open({ policy: { store: server.url, env: ENV, pollMs: 20 }, store: "memory" });
    await until(() => expect(server.requestsFor(`${ENV}/current.json`).length).toBeGreaterThanOrEqual(5));
    const [first, ...polls] = server.requestsFor(`${ENV}/current.json`);
    expect(first).toMatchObject({ status: 200, ifNoneMatch: null });
    for (const p of polls) expect(p).toMatchObject({ status: 304, ifNoneMatch: expect.stringMatching(/^"/) });
    expect(server.requests.filter((r) => r.path.includes("/blobs/"))).toHaveLength(1);
  });

  it("falls back to Last-Modified / If-Modified-Since when the host sends no ETag", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    server.etags = false;
    await open({ policy: { store: server.url, env: ENV, pollMs: 20 }, store: "memory" });
    await until(() => expect(server.requestsFor(`${ENV}/current.json`).length).toBeGreaterThanOrEqual(4));
    const polls = server.requestsFor(`${ENV}/current.json`).slice(1);
    for (const p of polls)
      expect(p).toMatchObject({ status: 304, ifNoneMatch: null, ifModifiedSince: expect.any(String) });
  });

  it("jitters each interval within ±20 % of pollMs", async () => {
    expect(jitteredDelay(1000, () => 0)).toBe(800);
    expect(jitteredDelay(1000, () => 0.999999)).toBe(1200);
    for (let i = 0; i < 1000; i++) {
      const d = jitteredDelay(10_000);
      expect(d).toBeGreaterThanOrEqual(8000);
      expect(d).toBeLessThanOrEqual(12_000);
    }
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    await open({ policy: { store: server.url, env: ENV, pollMs: 100 }, store: "memory" });
    await until(() => expect(server.requestsFor(`${ENV}/current.json`).length).toBeGreaterThanOrEqual(6));
    const at = server.requestsFor(`${ENV}/current.json`).map((r) => r.at);
    const gaps = at.slice(2).map((t, i) => t - (at[i + 1] as number));
    // Lower bound is exact (timers never fire early); the upper one leaves room for a busy machine.
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(78);
    expect(Math.min(...gaps)).toBeLessThan(200);
  });

  it("never starts a poll before the previous one has ended", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    const limitr = await open({ policy: { store: server.url, env: ENV, pollMs: 10 }, store: "memory" });
    server.delayMs = 60; // every answer takes six poll intervals
    await until(() => expect(server.requestsFor(`${ENV}/current.json`).length).toBeGreaterThanOrEqual(5));
    expect(server.maxInFlight).toBe(1);
    await limitr.close();
    const count = server.arrived;
    await sleep(150);
    expect(server.arrived).toBe(count); // close() stopped polling
  });
});

describe("swapping policies", () => {
  it("decisions around a reload see the old policy or the new one, never a mix", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const limitr = await open({ policy: { store: root, env: ENV, pollMs: 5 }, store: "memory" });
    const expected: Record<number, { limit: number; price: string }> = {
      1: { limit: 10, price: "0.5" },
      2: { limit: 100, price: "0.7" },
    };
    const seen: { version: number; limit: number | null; price: string }[] = [];
    let pushed = false;
    while (seen.length < 200_000) {
      // Past both limits, so every decision is priced at its policy's overage rate.
      const d = limitr.decide(`c${seen.length % 7}`, "api", 1, { now: 0 });
      seen.push({ version: d.version, limit: d.limit, price: d.price });
      if (d.version === 2 && seen.filter((s) => s.version === 2).length > 500) break;
      if (seen.length % 1000 === 0) await new Promise((r) => setImmediate(r));
      if (!pushed && seen.length > 3000) {
        pushed = true;
        void pushVersion(root, ENV, apiPolicy(100, "0.7"), null);
      }
    }
    expect(seen.some((s) => s.version === 2 && s.price === "0.7")).toBe(true);
    const versions = seen.map((s) => s.version);
    expect(versions).toContain(1);
    expect(versions).toContain(2);
    expect(versions.indexOf(2)).toBe(versions.lastIndexOf(1) + 1); // one switch, never back
    for (const s of seen) {
      const terms = expected[s.version] as { limit: number; price: string };
      expect(s.limit).toBe(terms.limit);
      if (s.price !== "0") expect(s.price).toBe(terms.price);
    }
  });

  it("counters and holds survive a reload; the new limit applies to them", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const limitr = await open({ policy: { store: root, env: ENV, pollMs: 20 }, store: "memory" });
    for (let i = 0; i < 7; i++) limitr.allow("acme", "api");
    const hold = limitr.reserve("acme", "api", 2, { ttlMs: 60_000 });
    expect(hold).not.toBeNull();
    expect(limitr.usage("acme", "api")).toMatchObject({ used: 7, held: 2, limit: 10, remaining: 1 });
    await pushVersion(root, ENV, apiPolicy(100, "0.5"), null);
    await until(() => expect(limitr.status().activeVersion).toBe(2));
    expect(limitr.usage("acme", "api")).toMatchObject({ used: 7, held: 2, limit: 100, remaining: 91 });
    expect(limitr.settle(hold as NonNullable<typeof hold>, 2)).toMatchObject({ used: 9, version: 2 });
    expect(limitr.usage("acme", "api")).toMatchObject({ used: 9, held: 0 });
  });

  it("R14 events buffered across a reload are stored with the version they were decided under", async () => {
    const root = tempDir();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const store = new MemoryEngineStore();
    const limitr = await open({
      policy: { store: root, env: ENV, pollMs: 20 },
      store,
      batch: { maxDelayMs: 60_000 },
    });
    for (let i = 0; i < 3; i++) limitr.allow("acme", "api");
    expect(limitr.record({ type: "api.request", customer: "acme" })).toMatchObject({ version: 1 });
    const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.5"), null);
    await until(() => expect(limitr.status().activeVersion).toBe(2));
    expect(limitr.status().pendingEvents).toBe(4);
    for (let i = 0; i < 2; i++) limitr.allow("acme", "api");
    await limitr.flush();
    const stored = store.events().map((e) => [e.bundleVersion, e.bundleDigest]);
    expect(stored).toEqual([
      ...Array(4).fill([1, v1.manifest.digest]),
      ...Array(2).fill([2, v2.manifest.digest]),
    ]);
  });

  it("emits `policy` activated with the previous version", async () => {
    const root = tempDir();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const limitr = await open({ policy: { store: root, env: ENV, pollMs: 20 }, store: "memory" });
    const notices: PolicyNotice[] = [];
    limitr.on("policy", (n) => notices.push(n));
    const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.5"), null);
    await until(() => expect(notices).toHaveLength(1));
    expect(notices[0]).toMatchObject({
      type: "activated",
      version: 2,
      digest: v2.manifest.digest,
      previousVersion: 1,
      previousDigest: v1.manifest.digest,
    });
  });
});

describe("R15 rejected bundles", () => {
  it("every kind of bad bundle is rejected once, with its reason, and the last good one keeps serving", async () => {
    const root = tempDir();
    const { privateKey, publicPem } = keyPair();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), privateKey);
    const limitr = await open({
      policy: { store: root, env: ENV, pollMs: 10, publicKeys: [publicPem] },
      store: "memory",
    });
    const notices: PolicyNotice[] = [];
    limitr.on("policy", (n) => notices.push(n));
    // Candidates are prepared in a copy of the store (same lineage and history), then offered as current.
    const staging = tempDir();
    cpSync(root, staging, { recursive: true });
    const offer = (record: BundleRecord, from = staging) => {
      const blob = blobPath(record.manifest.digest);
      mkdirSync(join(root, ENV, "blobs/sha256"), { recursive: true });
      copyFileSync(join(from, ENV, blob), join(root, ENV, blob));
      // Atomically, as push does: the poller must never read half a pointer.
      writeFileSync(join(root, ENV, "current.tmp"), JSON.stringify(record));
      renameSync(join(root, ENV, "current.tmp"), join(root, ENV, "current.json"));
    };
    const rejected = async (reason: string, message: RegExp) => {
      await until(() => expect(notices.at(-1)).toMatchObject({ type: "rejected", reason, activeVersion: 1 }));
      expect(limitr.status().policyError).toMatch(message);
      expect(limitr.decide("c1", "api")).toMatchObject({ version: 1, digest: v1.manifest.digest, limit: 10 });
    };
    const v2 = await pushVersion(staging, ENV, apiPolicy(20, "0.5"), privateKey);

    offer({ ...v2, signature: null });
    await rejected("unsigned", /version 2 is unsigned/);
    offer({ ...v2, manifest: { ...v2.manifest, createdBy: "mallory" } });
    await rejected("bad_signature", /signature of version 2 .* is invalid/);
    const elsewhere = tempDir();
    offer(await pushVersion(elsewhere, ENV, apiPolicy(30, "0.5"), privateKey), elsewhere);
    await rejected("lineage_mismatch", /lineage/);
    const broken = { ...apiPolicy(40, "0.5"), defaultPlan: "gone" };
    offer(await pushVersion(staging, ENV, broken, privateKey));
    await rejected("invalid_policy", /defaultPlan gone is not a plan/);
    await sleep(100); // ten more polls of the same bad bundle
    expect(notices.map((n) => (n.type === "rejected" ? n.reason : n.type))).toEqual([
      "unsigned",
      "bad_signature",
      "lineage_mismatch",
      "invalid_policy",
    ]);
    offer(v2);
    await until(() => expect(limitr.status()).toMatchObject({ activeVersion: 2, policyError: null }));
    expect(notices.at(-1)).toMatchObject({ type: "activated", version: 2, previousVersion: 1 });
  });

  it("R15 a signed bundle breaking a semantic rule of `limitr validate` (a parent cycle, tiers out of order) is rejected; the last good one keeps serving", async () => {
    const root = tempDir();
    const { privateKey, publicPem } = keyPair();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), privateKey);
    const limitr = await open({
      policy: { store: root, env: ENV, pollMs: 10, publicKeys: [publicPem] },
      store: "memory",
    });
    const notices: PolicyNotice[] = [];
    limitr.on("policy", (n) => notices.push(n));
    const cycle = structuredClone(apiPolicy(20, "0.5"));
    const customer = (id: string, parent: string) => ({
      id,
      plan: "free",
      parent,
      since: null,
      metadata: {},
      overrides: {},
      discounts: [],
      credits: [],
    });
    cycle.customers = { a: customer("a", "b"), b: customer("b", "a") };
    await pushVersion(root, ENV, cycle, privateKey);
    await until(() => expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "invalid_policy" }));
    expect(limitr.status().policyError).toMatch(/customers\.a is its own ancestor: a -> b -> a/);
    expect(limitr.decide("a", "api")).toMatchObject({ version: 1, digest: v1.manifest.digest, limit: 10 });

    const tiers = structuredClone(apiPolicy(30, "0.5"));
    const api = tiers.plans.free?.entitlements.api;
    if (api?.kind !== "metered") throw new Error("api is metered");
    api.price = {
      model: "graduated",
      tiers: [
        { upTo: 100, unitPrice: "0", flatFee: "0" },
        { upTo: 50, unitPrice: "1", flatFee: "0" },
        { upTo: null, unitPrice: "2", flatFee: "0" },
      ],
    };
    await pushVersion(root, ENV, tiers, privateKey);
    await until(() => expect(limitr.status().policyError).toMatch(/tiers\[1\]\.up_to is 50/));
    expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "invalid_policy", activeVersion: 1 });
    expect(limitr.decide("a", "api")).toMatchObject({ version: 1, limit: 10 });

    await pushVersion(root, ENV, apiPolicy(40, "0.5"), privateKey);
    await until(() => expect(limitr.status()).toMatchObject({ activeVersion: 4, policyError: null }));
  });

  it("an unreachable or failing host keeps the active bundle until it answers again", async () => {
    const root = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await serve(root);
    const limitr = await open({ policy: { store: server.url, env: ENV, pollMs: 10 }, store: "memory" });
    const notices: PolicyNotice[] = [];
    limitr.on("policy", (n) => notices.push(n));
    server.failWith = 503;
    await until(() => expect(limitr.status().policyError).toMatch(/HTTP 503/));
    expect(limitr.status().lastError).toMatch(/HTTP 503/);
    expect(limitr.decide("c1", "api")).toMatchObject({ allowed: true, version: 1 });
    server.failWith = null;
    await until(() => expect(limitr.status().policyError).toBeNull());
    expect(notices).toEqual([
      expect.objectContaining({ type: "rejected", reason: "fetch_failed", version: null }),
    ]);
  });
});

describe("the last good bundle on disk", () => {
  it("is written by temp file + rename, and only for verified bundles", async () => {
    const root = tempDir();
    const cacheDir = tempDir();
    const { privateKey, publicPem } = keyPair();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), privateKey);
    const limitr = await open({
      policy: { store: root, env: ENV, pollMs: 20, cacheDir, publicKeys: [publicPem] },
      store: "memory",
    });
    const file = join(cacheDir, `${ENV}.json`);
    const first = statSync(file).ino;
    expect(JSON.parse(readFileSync(file, "utf8")).manifest.version).toBe(1);
    await pushVersion(root, ENV, apiPolicy(20, "0.5"), privateKey);
    await until(() => expect(JSON.parse(readFileSync(file, "utf8")).manifest.version).toBe(2));
    expect(statSync(file).ino).not.toBe(first); // replaced, not rewritten in place
    expect(readdirSync(cacheDir)).toEqual([`${ENV}.json`]); // no temporary file left behind
    const good = readFileSync(file, "utf8");
    // An unsigned version 3 is rejected: the cache keeps version 2.
    const { privateKey: other } = keyPair();
    await pushVersion(root, ENV, apiPolicy(30, "0.5"), other);
    await until(() => expect(limitr.status().policyError).toMatch(/not trusted/));
    expect(readFileSync(file, "utf8")).toBe(good);
    expect(limitr.status().activeVersion).toBe(2);
  });

  it("a cold start with the store unreachable serves the persisted bundle and reports the failed fetch", async () => {
    const root = tempDir();
    const dbDir = tempDir();
    const { privateKey, publicPem } = keyPair();
    const v1 = await pushVersion(root, ENV, apiPolicy(10, "0.5"), privateKey);
    const server = await serve(root);
    const options: LimitrOptions = {
      policy: { store: server.url, env: ENV, pollMs: 50, publicKeys: [publicPem] },
      store: `sqlite:${join(dbDir, "usage.db")}`,
    };
    const first = await open(options);
    first.allow("acme", "api", 3);
    await first.close();
    expect(readdirSync(join(dbDir, "bundle-cache"))).toEqual([`${ENV}.json`]);
    await server.stop();
    const second = await open(options);
    expect(second.status()).toMatchObject({
      activeVersion: 1,
      activeDigest: v1.manifest.digest,
      source: "cache",
      lastSuccessAt: null,
      policyError: expect.stringMatching(/cannot fetch .*current\.json/),
    });
    expect(second.usage("acme", "api").used).toBe(3);
    // The store comes back: the next poll confirms the bundle and clears the error.
    await server.start();
    await until(() => expect(second.status().policyError).toBeNull());
    expect(second.status()).toMatchObject({ activeVersion: 1, source: "store" });
    await second.close();
    // A cached bundle is verified again: under another trusted key it is refused, and with the store down nothing loads.
    await server.stop();
    const { publicPem: stranger } = keyPair();
    await expect(
      Limitr.open({ ...options, policy: { store: server.url, env: ENV, publicKeys: [stranger] } }),
    ).rejects.toThrow(
      /cannot load a policy bundle .*cannot fetch.*cached bundle .* was rejected: .*not trusted/s,
    );
  });

  it("a restart never goes back: the cached version is the floor for what the store offers", async () => {
    const root = tempDir();
    const cacheDir = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const v1Record = readFileSync(join(root, ENV, "current.json"), "utf8");
    const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.5"), null);
    const policy = { store: root, env: ENV, pollMs: 20, cacheDir };
    await (await open({ policy, store: "memory" })).close();
    writeFileSync(join(root, ENV, "current.json"), v1Record); // the store serves version 1 again
    const limitr = await open({ policy, store: "memory" });
    expect(limitr.status()).toMatchObject({
      activeVersion: 2,
      activeDigest: v2.manifest.digest,
      source: "cache",
      policyError: expect.stringMatching(/version 1 is older than the active version 2/),
    });
  });
});
