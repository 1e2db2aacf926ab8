import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publish } from "../../src/cli/adapters/bundles/directory-store.js";
import { policyDigestOf, signManifest } from "../../src/engine/adapters/bundles/crypto.js";
import { type BundleRecord, nextManifest } from "../../src/engine/core/bundles/manifest.js";
import { canonicalJson, compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";

/** One soft-limited, priced entitlement (`api`): limit and overage price tell versions apart in a decision. */
export function apiPolicy(limit: number, overage: string): CompiledPolicy {
  return compilePolicy({
    limitr: 1,
    name: "reload-test",
    timezone: "UTC",
    meters: { calls: { event: "api.request", aggregation: "count" } },
    plans: {
      free: {
        default: true,
        entitlements: { api: { meter: "calls", limit, mode: "soft", overage: Number(overage) } },
      },
    },
  });
}

export function keyPair(): { privateKey: KeyObject; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/** Publish versions into `<root>/<env>` the way `limitr push` does (same code path, no CLI). */
export async function pushVersion(
  root: string,
  env: string,
  policy: CompiledPolicy,
  key: KeyObject | null,
): Promise<BundleRecord> {
  const digest = policyDigestOf(policy);
  const policyJson = canonicalJson(policy);
  const r = await publish(join(root, env), {
    policyJson,
    digest,
    manifest: (latest) =>
      nextManifest(latest, {
        project: policy.name,
        environment: env,
        digest,
        size: Buffer.byteLength(policyJson),
        source: { commit: null, ref: null, dirty: true },
        createdAt: new Date().toISOString(),
        createdBy: "test",
        limitrVersion: "0.0.0",
        newLineage: crypto.randomUUID(),
      }),
    sign: key ? (m) => signManifest(m, key) : null,
    ignorePin: true,
  });
  return r.record;
}

const dirs: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "limitr-reload-"));
  dirs.push(d);
  return d;
}
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
