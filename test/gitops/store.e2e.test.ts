import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directoryReader, publish } from "../../src/cli/adapters/bundles/directory-store.js";
import { fetchVerifiedBundle, readerForEnvironment } from "../../src/cli/adapters/bundles/fetch-verified.js";
import { sha256Digest } from "../../src/engine/adapters/bundles/crypto.js";
import { type BundleManifest, nextManifest } from "../../src/engine/core/bundles/manifest.js";
import { readVersion } from "../../src/engine/core/bundles/port.js";
import { ConflictError } from "../../src/engine/core/errors.js";
import { commitAll, edit, limitr, limitrProcess, makeRepo } from "./helpers.js";

function request(n: number) {
  const policyJson = JSON.stringify({ formatVersion: 1, n });
  const digest = sha256Digest(policyJson);
  return {
    policyJson,
    digest,
    sign: null,
    ignorePin: false,
    manifest: (latest: BundleManifest | null) =>
      nextManifest(latest, {
        project: "p",
        environment: "e",
        digest,
        source: { commit: null, ref: null, dirty: true },
        createdAt: new Date(0).toISOString(),
        createdBy: "t",
        limitrVersion: "0",
        newLineage: `lineage-${n}`,
      }),
  };
}

/** Versions 1..n with no gap, each chained to the previous, one lineage. */
async function expectChain(envDir: string, count: number) {
  const reader = directoryReader(envDir);
  expect(await reader.listVersions()).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  let prev: BundleManifest | null = null;
  for (let v = 1; v <= count; v++) {
    const m = (await readVersion(reader, v))!.manifest;
    expect(m.version).toBe(v);
    expect(m.parent).toEqual(prev ? { version: prev.version, digest: prev.digest } : null);
    if (prev) expect(m.lineage).toBe(prev.lineage);
    prev = m;
  }
  const current = JSON.parse(readFileSync(join(envDir, "current.json"), "utf8"));
  expect(current.manifest.version).toBe(count);
}

describe("bundle store concurrency", () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "limitr-store-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("serialises concurrent publishers in one process: versions 1..n, no gaps or duplicates", async () => {
    const envDir = join(tmp, "inproc");
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => publish(envDir, request(i))));
    expect(results.every((r) => r.status === "published")).toBe(true);
    expect(new Set(results.map((r) => r.record.manifest.version)).size).toBe(12);
    await expectChain(envDir, 12);
  });

  it("repairs a pointer left behind by a writer that died after creating its version", async () => {
    const envDir = join(tmp, "crash");
    await publish(envDir, request(1));
    await publish(envDir, request(2));
    writeFileSync(join(envDir, "current.json"), readFileSync(join(envDir, "versions/1.json")));
    const again = await publish(envDir, request(2));
    expect(again.status).toBe("unchanged");
    expect(JSON.parse(readFileSync(join(envDir, "current.json"), "utf8")).manifest.version).toBe(2);
    expect((await publish(envDir, request(3))).record.manifest.parent?.version).toBe(2);
    await expectChain(envDir, 3);
  });

  it("breaks a stale lock left by a dead process, and times out on a live one (exit 5)", async () => {
    const envDir = join(tmp, "locks");
    const dead = await execa("node", ["-e", "process.stdout.write(String(process.pid))"]);
    mkdirSync(envDir, { recursive: true });
    writeFileSync(
      join(envDir, ".lock"),
      JSON.stringify({ pid: Number(dead.stdout), host: hostname(), at: Date.now() }),
    );
    expect((await publish(envDir, request(1))).status).toBe("published");

    writeFileSync(
      join(envDir, ".lock"),
      JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }),
    );
    await expect(publish(envDir, { ...request(2), lock: { timeoutMs: 200 } })).rejects.toThrow(ConflictError);
    rmSync(join(envDir, ".lock"));
  });

  it("concurrent `limitr push` processes never lose or duplicate a version", async () => {
    const { dir, cleanup } = await makeRepo({ tests: false });
    try {
      const writers = ["a", "b", "c", "d"];
      for (const [i, w] of writers.entries()) {
        cpSync(join(dir, "policies"), join(dir, `policies-${w}`), { recursive: true });
        edit(join(dir, `policies-${w}`, "plans.yaml"), "price: 49", `price: ${50 + i}`);
      }
      await commitAll(dir, "four variants");
      const runs = await Promise.all(
        writers.map((w) => limitrProcess(dir, ["--policies", `policies-${w}`, "push"])),
      );
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      const envDir = join(dir, ".limitr/bundles/staging");
      await expectChain(envDir, writers.length);
      const reader = directoryReader(envDir);
      const digests = await Promise.all(
        writers.map(async (_, i) => (await readVersion(reader, i + 1))!.manifest.digest),
      );
      expect(new Set(digests).size).toBe(writers.length);
    } finally {
      cleanup();
    }
  });
});

describe("read-only HTTP store", () => {
  let repo: { dir: string; cleanup: () => void };
  let server: Server;
  let base: string;
  beforeAll(async () => {
    repo = await makeRepo({ tests: false });
    expect((await limitr(repo.dir, ["push"])).code).toBe(0);
    edit(join(repo.dir, "policies/plans.yaml"), "price: 49", "price: 55");
    await commitAll(repo.dir, "pro: $55");
    expect((await limitr(repo.dir, ["push"])).code).toBe(0);
    const root = join(repo.dir, ".limitr/bundles");
    // A static file server, as a CDN in front of the synced directory would be.
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      try {
        const body = readFileSync(join(root, path));
        res.writeHead(200, { "content-type": "application/json" }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    repo.cleanup();
  });

  it("lists and verifies history over HTTP", async () => {
    const r = await limitr(repo.dir, ["history", "--store", base, "--verify", "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(doc.versions.every((v: { verified: { ok: boolean } }) => v.verified.ok)).toBe(true);
  });

  it("refuses to push to a URL (exit 64) and says how to publish", async () => {
    const r = await limitr(repo.dir, ["push", "--store", base]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("read-only over HTTP");
  });

  it("fetches and verifies the current bundle as a loader would, and rejects a tampered blob", async () => {
    const reader = readerForEnvironment(`${base}/staging`);
    const first = await fetchVerifiedBundle(reader, {});
    expect(first.status).toBe("accepted");
    if (first.status !== "accepted") return;
    expect(first.bundle.manifest.version).toBe(2);
    expect(first.bundle.policy.plans.pro?.price).toBe("55");
    const again = await fetchVerifiedBundle(reader, { current: first.bundle.manifest });
    expect(again).toMatchObject({ status: "accepted", noop: true });

    const blob = join(
      repo.dir,
      ".limitr/bundles/staging",
      `blobs/sha256/${first.bundle.manifest.digest.slice(7)}.json`,
    );
    writeFileSync(blob, readFileSync(blob, "utf8").replace('"price":"55"', '"price":"5"'));
    const tampered = await fetchVerifiedBundle(reader, { current: first.bundle.manifest });
    expect(tampered).toMatchObject({ status: "rejected", result: { reason: "digest_mismatch" } });
    expect(await fetchVerifiedBundle(readerForEnvironment(`${base}/nowhere`), {})).toEqual({
      status: "empty",
    });
  });
});
