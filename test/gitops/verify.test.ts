import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fetchVerifiedBundle } from "../../src/cli/adapters/bundles/fetch-verified.js";
import {
  generateSigningKey,
  nodeBundleCrypto,
  sha256Digest,
  signManifest,
  trustedKeysFromPem,
} from "../../src/engine/adapters/bundles/crypto.js";
import { type Bundle, type BundleManifest, nextManifest } from "../../src/engine/core/bundles/manifest.js";
import { memoryReader } from "../../src/engine/core/bundles/port.js";
import { verifyBundle } from "../../src/engine/core/bundles/verify.js";
import { canonicalJson, compilePolicy } from "../../src/engine/core/compile.js";

const policyA = compilePolicy({ limitr: 1, name: "acme-ai", plans: { pro: { price: 49 } } });
const policyB = compilePolicy({ limitr: 1, name: "acme-ai", plans: { pro: { price: 59 } } });
const keyA = generateSigningKey();
const keyB = generateSigningKey();
const trustedA = trustedKeysFromPem([keyA.publicPem]);

function bundle(
  policy = policyA,
  prev: BundleManifest | null = null,
  key: typeof keyA | null = keyA,
  lineage = "L1",
): Bundle {
  const manifest = nextManifest(prev, {
    project: "acme-ai",
    environment: "production",
    digest: sha256Digest(canonicalJson(policy)),
    source: { commit: "abc", ref: "main", dirty: false },
    createdAt: "2026-10-01T00:00:00.000Z",
    createdBy: "pricing@acme-ai.example",
    limitrVersion: "0.1.0",
    newLineage: lineage,
  });
  const signature = key ? signManifest(manifest, createPrivateKey(key.privatePem)) : null;
  return { manifest, signature, policy: structuredClone(policy) };
}

const opts = (extra: Partial<Parameters<typeof verifyBundle>[1]> = {}) => ({
  crypto: nodeBundleCrypto,
  publicKeys: trustedA,
  ...extra,
});

describe("R15 bundle verification", () => {
  const v1 = bundle();
  const v2 = bundle(policyB, v1.manifest);

  it("accepts a signed first bundle and a signed successor", () => {
    expect(verifyBundle(v1, opts())).toMatchObject({ ok: true, noop: false });
    expect(verifyBundle(v2, opts({ current: v1.manifest }))).toMatchObject({ ok: true, noop: false });
  });

  it("treats the active version with the same digest as a no-op", () => {
    expect(verifyBundle(v2, opts({ current: v2.manifest }))).toMatchObject({ ok: true, noop: true });
  });

  it("rejects a tampered blob (digest mismatch)", () => {
    const tampered = structuredClone(v2);
    tampered.policy.plans.pro!.price = "1";
    expect(verifyBundle(tampered, opts())).toMatchObject({ ok: false, reason: "digest_mismatch" });
  });

  it("rejects a tampered manifest (bad signature)", () => {
    const forged = structuredClone(v2);
    forged.manifest.createdBy = "mallory@example.com";
    expect(verifyBundle(forged, opts())).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("rejects a bundle signed by an untrusted key", () => {
    const other = bundle(policyA, null, keyB);
    const r = verifyBundle(other, opts());
    expect(r).toMatchObject({ ok: false, reason: "unknown_key" });
    // Rotation: trusting both keys accepts either signer.
    const both = trustedKeysFromPem([keyA.publicPem, keyB.publicPem]);
    expect(verifyBundle(other, opts({ publicKeys: both })).ok).toBe(true);
  });

  it("rejects an unsigned bundle when keys are configured, accepts it when none are", () => {
    const unsigned = bundle(policyA, null, null);
    expect(verifyBundle(unsigned, opts())).toMatchObject({ ok: false, reason: "unsigned" });
    expect(verifyBundle(unsigned, opts({ publicKeys: [] })).ok).toBe(true);
  });

  it("rejects an older version than the active one", () => {
    expect(verifyBundle(v1, opts({ current: v2.manifest }))).toMatchObject({
      ok: false,
      reason: "stale_version",
    });
  });

  it("rejects the same version number with a different digest", () => {
    const fork = bundle(policyB, null);
    expect(verifyBundle(fork, opts({ current: v1.manifest }))).toMatchObject({
      ok: false,
      reason: "stale_version",
    });
  });

  it("rejects a bundle from another lineage", () => {
    const other = bundle(policyB, null, keyA, "L2");
    const next = bundle(policyA, other.manifest, keyA);
    expect(verifyBundle(next, opts({ current: v1.manifest }))).toMatchObject({
      ok: false,
      reason: "lineage_mismatch",
    });
  });

  it("rejects another project and a policy that fails validation", () => {
    expect(verifyBundle(v1, opts({ project: "globex" }))).toMatchObject({
      ok: false,
      reason: "project_mismatch",
    });
    const r = verifyBundle(v1, opts({ validate: () => ["plans.pro.price must be >= 0"] }));
    expect(r).toMatchObject({ ok: false, reason: "invalid_policy" });
    if (!r.ok) expect(r.message).toContain("plans.pro.price");
  });

  it("rejects malformed bundles without throwing", () => {
    expect(verifyBundle({} as Bundle, opts())).toMatchObject({ ok: false, reason: "malformed" });
    const noVersion = structuredClone(v1);
    (noVersion.manifest as { version: unknown }).version = "1";
    expect(verifyBundle(noVersion, opts())).toMatchObject({ ok: false, reason: "malformed" });
    // testsSkipped is optional, and a boolean when present (schemas/bundle.schema.json).
    const badSkipped = structuredClone(v1);
    (badSkipped.manifest as { testsSkipped?: unknown }).testsSkipped = "yes";
    expect(verifyBundle(badSkipped, opts())).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("fetches through the in-memory store port and verifies (loader path)", async () => {
    const files = new Map<string, string>();
    const blob = `blobs/sha256/${v2.manifest.digest.slice(7)}.json`;
    files.set(blob, canonicalJson(v2.policy));
    files.set(
      "current.json",
      JSON.stringify({ formatVersion: 1, manifest: v2.manifest, signature: v2.signature, blob }),
    );
    const reader = memoryReader(files);
    const ok = await fetchVerifiedBundle(reader, { publicKeys: trustedA, current: v1.manifest });
    expect(ok).toMatchObject({ status: "accepted", noop: false });
    files.delete(blob);
    const missing = await fetchVerifiedBundle(reader, { publicKeys: trustedA });
    expect(missing).toMatchObject({ status: "rejected", result: { reason: "malformed" } });
  });
});
