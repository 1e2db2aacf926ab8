import { describe, expect, it } from "vitest";
import {
  type BundleManifest,
  blobPath,
  checkEnvironmentName,
  defaultRollbackTarget,
  nextManifest,
} from "../../src/engine/core/bundles/manifest.js";

const input = (digest: string, extra: { rollbackOf?: number } = {}) => ({
  project: "acme-ai",
  environment: "production",
  digest,
  source: { commit: "c0ffee", ref: "main", dirty: false },
  createdAt: "2026-10-01T00:00:00.000Z",
  createdBy: "ci@acme-ai.example",
  limitrVersion: "0.1.0",
  newLineage: `fresh-${digest}`,
  ...extra,
});

function history(digests: string[]): BundleManifest[] {
  const out: BundleManifest[] = [];
  for (const d of digests) out.push(nextManifest(out[out.length - 1] ?? null, input(d)));
  return out;
}

describe("manifest chain", () => {
  it("starts at version 1 with a new lineage and no parent, then chains", () => {
    const [v1, v2] = history(["sha256:a", "sha256:b"]);
    expect(v1).toMatchObject({ version: 1, parent: null, lineage: "fresh-sha256:a", rollbackOf: null });
    expect(v2).toMatchObject({
      version: 2,
      parent: { version: 1, digest: "sha256:a" },
      lineage: "fresh-sha256:a",
    });
  });

  it("picks the newest earlier version with different content as the default rollback target", () => {
    const h = history(["sha256:a", "sha256:b", "sha256:b", "sha256:c"]);
    expect(defaultRollbackTarget(h, h[3]!)?.version).toBe(3);
    // Consecutive versions with the same content count as one: from [a, b, b] the target is a.
    const same = history(["sha256:a", "sha256:b", "sha256:b"]);
    expect(defaultRollbackTarget(same, same[2]!)?.version).toBe(1);
    expect(defaultRollbackTarget(history(["sha256:a"]), history(["sha256:a"])[0]!)).toBeNull();
  });

  it("maps digests to content-addressed blob paths and refuses anything else", () => {
    const hex = "0".repeat(64);
    expect(blobPath(`sha256:${hex}`)).toBe(`blobs/sha256/${hex}.json`);
    expect(() => blobPath("sha256:../../etc/passwd")).toThrow();
  });

  it("accepts environment names that are safe as directory and URL segments", () => {
    expect(checkEnvironmentName("production")).toBeNull();
    expect(checkEnvironmentName("eu-west.1")).toBeNull();
    expect(checkEnvironmentName("../prod")).not.toBeNull();
    expect(checkEnvironmentName("")).not.toBeNull();
  });
});
