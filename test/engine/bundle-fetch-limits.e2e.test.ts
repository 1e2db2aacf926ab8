import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { blobPath } from "../../src/engine/core/bundles/manifest.js";
import type { PolicyNotice } from "../../src/engine/runtime/events.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { StaticServer } from "../helpers/static-server.js";
import { apiPolicy, pushVersion, removeTempDirs, tempDir } from "./reload-helpers.js";

/**
 * Hostile bundle hosts (docs/engine.md, "Live bundle reload"): a blob that
 * is huge or never ends is aborted at `maxBundleBytes` or at the size its
 * manifest declares, and a host that accepts and never answers costs at
 * most `timeoutMs`, even with the garbage collector running all along.
 */
const ENV = "production";
const MiB = 1024 * 1024;
const GC_CHILD = join(import.meta.dirname, "../helpers/open-under-gc.mjs");
const engines: Limitr[] = [];
const servers: StaticServer[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const s of servers.splice(0)) await s.stop();
  removeTempDirs();
});

const until = (check: () => void, timeout = 8000) => vi.waitFor(check, { timeout, interval: 10 });

async function setup(maxBundleBytes?: number) {
  const root = tempDir();
  await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
  const server = await new StaticServer(root).start();
  servers.push(server);
  const limitr = await Limitr.open({
    policy: { store: server.url, env: ENV, pollMs: 40, ...(maxBundleBytes ? { maxBundleBytes } : {}) },
    store: "memory",
  });
  engines.push(limitr);
  const notices: PolicyNotice[] = [];
  limitr.on("policy", (n) => notices.push(n));
  const v2 = await pushVersion(root, ENV, apiPolicy(20, "0.5"), null);
  return { root, server, limitr, notices, v2, blob: `${ENV}/${blobPath(v2.manifest.digest)}` };
}

describe("bundle fetches are bounded in bytes (maxBundleBytes, manifest size)", () => {
  it("an endless blob is aborted at the limit, memory stays bounded, and the last good bundle keeps serving", async () => {
    const { server, limitr, notices, blob } = await setup(MiB);
    const rss = process.memoryUsage().rss;
    // The manifest declares the real size; without it, the limit alone stops the download.
    server.override(
      `${ENV}/current.json`,
      withoutSize(readFileSync(join(server_root(server), "current.json"), "utf8")),
    );
    server.stream(blob, Number.POSITIVE_INFINITY);
    const started = Date.now();
    await until(() =>
      expect(notices.at(-1)).toMatchObject({ type: "rejected", reason: "too_large", version: 2 }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(limitr.status()).toMatchObject({
      activeVersion: 1,
      policyError: expect.stringMatching(/over the 1048576-byte limit/),
    });
    expect(limitr.usage("acme", "api").limit).toBe(10);
    // Later polls fetch it again and give up again: what was sent stays a few limits' worth, not gigabytes.
    await new Promise((r) => setTimeout(r, 300));
    const polls = server.requestsFor(blob).length;
    expect(polls).toBeGreaterThan(1);
    expect(server.streamedBytes).toBeLessThan(polls * 8 * MiB);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * MiB);
  });

  it("a Content-Length over the limit is refused before the body is read", async () => {
    const { server, limitr, notices, blob } = await setup(MiB);
    server.override(
      `${ENV}/current.json`,
      withoutSize(readFileSync(join(server_root(server), "current.json"), "utf8")),
    );
    server.stream(blob, 1536 * MiB, true);
    await until(() => expect(notices.at(-1)).toMatchObject({ reason: "too_large" }));
    expect(limitr.status().policyError).toMatch(/is 1610612736 bytes: over the 1048576-byte limit/);
    expect(server.streamedBytes).toBeLessThan(64 * MiB);
    expect(limitr.status().activeVersion).toBe(1);
  });

  it("a blob longer than its manifest's size is cut off at that size (default limit)", async () => {
    const { server, limitr, notices, blob, v2 } = await setup();
    server.stream(blob, Number.POSITIVE_INFINITY);
    await until(() => expect(notices.at(-1)).toMatchObject({ reason: "too_large", version: 2 }));
    expect(limitr.status().policyError).toMatch(
      new RegExp(`more than the ${v2.manifest.size} bytes its manifest declares`),
    );
    expect(server.streamedBytes).toBeLessThan(64 * MiB);
  });

  it("a manifest declaring a size over the limit is refused without fetching the blob", async () => {
    const { server, limitr, notices, blob } = await setup(MiB);
    const record = JSON.parse(readFileSync(join(server_root(server), "current.json"), "utf8"));
    record.manifest.size = 2 * MiB;
    server.override(`${ENV}/current.json`, JSON.stringify(record));
    await until(() => expect(notices.at(-1)).toMatchObject({ reason: "too_large", version: 2 }));
    expect(limitr.status().policyError).toMatch(/declared as 2097152 bytes/);
    expect(server.requestsFor(blob)).toEqual([]);
  });

  it("a bundle published before manifests had a size still loads", async () => {
    const { server, limitr, notices } = await setup(MiB);
    server.override(
      `${ENV}/current.json`,
      withoutSize(readFileSync(join(server_root(server), "current.json"), "utf8")),
    );
    await until(() => expect(notices.at(-1)).toMatchObject({ type: "activated", version: 2 }));
    expect(limitr.usage("acme", "api").limit).toBe(20);
  });
});

describe("timeoutMs holds against a host that accepts and never answers, under forced GC", () => {
  it("a cold start with a cache opens on it within timeoutMs, and polls keep their interval", async () => {
    const root = tempDir();
    const cacheDir = tempDir();
    await pushVersion(root, ENV, apiPolicy(10, "0.5"), null);
    const server = await new StaticServer(root).start();
    servers.push(server);
    const warm = await Limitr.open({ policy: { store: server.url, env: ENV, cacheDir }, store: "memory" });
    await warm.close();

    server.hang = true;
    const [timeoutMs, pollMs, stayMs] = [600, 300, 3000];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", GC_CHILD, server.url, ENV, cacheDir, String(timeoutMs), String(pollMs), String(stayMs)],
      { timeout: 20_000 },
    );
    const [opened, later] = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    // Bounded by the timeout, not by the hanging host (which never answers); the slack absorbs a busy machine collecting garbage every 2 ms.
    expect(opened.openMs).toBeLessThan(timeoutMs + 2500);
    expect(opened.status).toMatchObject({
      activeVersion: 1,
      source: "cache",
      policyError: expect.stringMatching(/timed out after 600 ms/),
    });
    expect(later.status).toMatchObject({ activeVersion: 1, source: "cache" });
    // Open's request, then one poll per interval: each waits pollMs ±20 %, then at most timeoutMs.
    const times = server.requestsFor(`${ENV}/current.json`).map((r) => r.at);
    expect(times.length).toBeGreaterThanOrEqual(1 + Math.floor(stayMs / (pollMs * 1.2 + timeoutMs + 200)));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // A hanging host never stretches a gap past one interval and one timeout (plus a busy machine's
    // slack: GC every 2 ms on a loaded 2-core machine has measured 3 s gaps; a hang would be unbounded).
    for (const gap of gaps) expect(gap).toBeLessThan(pollMs * 1.2 + timeoutMs + 4000);
  }, 30_000);
});

function withoutSize(recordText: string): string {
  const record = JSON.parse(recordText);
  delete record.manifest.size;
  return JSON.stringify(record);
}

function server_root(server: StaticServer): string {
  return join((server as unknown as { root: string }).root, ENV);
}
