import { canonicalJson } from "../compile.js";
import type { Bundle, BundleManifest } from "./manifest.js";

/**
 * Bundle verification for activation (SPEC R15): a bundle is accepted whole
 * or rejected with one precise reason, and the caller keeps its
 * last-known-good bundle. Pure: hashing and signature checks come in through
 * `BundleCrypto` (node:crypto lives in adapters/bundles/crypto.ts).
 */
export interface BundleCrypto {
  /** `sha256:<hex>` of a UTF-8 string. */
  digest(text: string): string;
  /** True when `signature` (base64) is a valid Ed25519 signature of `data` under `key`. */
  verify(key: unknown, data: string, signature: string): boolean;
}

export interface TrustedKey {
  keyId: string;
  /** Opaque to core: whatever `BundleCrypto.verify` accepts (a KeyObject). */
  key: unknown;
}

export type RejectReason =
  | "malformed"
  | "digest_mismatch"
  | "unsigned"
  | "unknown_key"
  | "bad_signature"
  | "project_mismatch"
  | "environment_mismatch"
  | "lineage_mismatch"
  | "stale_version"
  | "invalid_policy";

export type VerifyResult =
  | {
      ok: true /** Same version and digest as the active one: nothing to swap. */;
      noop: boolean;
      manifest: BundleManifest;
    }
  | { ok: false; reason: RejectReason; message: string };

export interface VerifyOptions {
  crypto: BundleCrypto;
  /** Trusted keys; when non-empty, unsigned bundles are rejected. */
  publicKeys?: TrustedKey[];
  /** Manifest of the bundle active now (null or absent on a cold start). */
  current?: BundleManifest | null;
  /** Expected project / environment, when the client is configured with them. */
  project?: string;
  environment?: string;
  /** Policy validation (schema + semantic rules); returns problems, empty when valid. */
  validate?: (policy: unknown) => string[];
}

const reject = (reason: RejectReason, message: string): VerifyResult => ({ ok: false, reason, message });

function malformed(bundle: unknown): string | null {
  const b = bundle as Partial<Bundle> | null;
  if (!b || typeof b !== "object") return "bundle is not an object";
  const m = b.manifest as Partial<BundleManifest> | undefined;
  if (!m || typeof m !== "object") return "bundle has no manifest";
  if (m.formatVersion !== 1) return `unsupported manifest formatVersion ${String(m.formatVersion)}`;
  if (!Number.isSafeInteger(m.version) || (m.version ?? 0) < 1)
    return "manifest.version must be an integer >= 1";
  for (const f of ["digest", "lineage", "project", "environment"] as const) {
    if (typeof m[f] !== "string" || m[f] === "") return `manifest.${f} is missing`;
  }
  if (m.size !== undefined && !(Number.isSafeInteger(m.size) && (m.size as number) >= 0))
    return "manifest.size must be a number of bytes";
  if (m.testsSkipped !== undefined && typeof m.testsSkipped !== "boolean")
    return "manifest.testsSkipped must be a boolean";
  const p = b.policy as { formatVersion?: unknown } | undefined;
  if (!p || typeof p !== "object") return "bundle has no policy";
  if (p.formatVersion !== 1) return `unsupported policy formatVersion ${String(p.formatVersion)}`;
  return null;
}

/**
 * Check a fetched bundle before activating it. Order matters: integrity and
 * authenticity first (so nothing from an untrusted bundle is believed), then
 * history (project, lineage, version), then the policy itself.
 *
 * @example
 *   const r = verifyBundle(fetched, { crypto: nodeBundleCrypto, publicKeys, current: active?.manifest });
 *   if (!r.ok) status.lastError = r.message; else if (!r.noop) swap(fetched);
 */
export function verifyBundle(bundle: Bundle, opts: VerifyOptions): VerifyResult {
  const bad = malformed(bundle);
  if (bad) return reject("malformed", bad);
  const m = bundle.manifest;
  const actual = opts.crypto.digest(canonicalJson(bundle.policy));
  if (actual !== m.digest)
    return reject("digest_mismatch", `policy digest ${actual} does not match manifest ${m.digest}`);

  const keys = opts.publicKeys ?? [];
  if (keys.length > 0) {
    const sig = bundle.signature;
    if (!sig)
      return reject("unsigned", `version ${m.version} is unsigned and this client requires a signature`);
    const key = keys.find((k) => k.keyId === sig.keyId);
    if (!key)
      return reject(
        "unknown_key",
        `version ${m.version} is signed by key ${sig.keyId}, which is not trusted`,
      );
    if (sig.algorithm !== "ed25519" || !opts.crypto.verify(key.key, canonicalJson(m), sig.value))
      return reject("bad_signature", `signature of version ${m.version} by key ${sig.keyId} is invalid`);
  }

  if (opts.project !== undefined && m.project !== opts.project)
    return reject("project_mismatch", `bundle is for project "${m.project}", expected "${opts.project}"`);
  if (opts.environment !== undefined && m.environment !== opts.environment)
    return reject(
      "environment_mismatch",
      `bundle is for environment "${m.environment}", expected "${opts.environment}"`,
    );

  const cur = opts.current;
  if (cur) {
    if (m.project !== cur.project)
      return reject("project_mismatch", `bundle is for project "${m.project}", active is "${cur.project}"`);
    if (m.lineage !== cur.lineage)
      return reject(
        "lineage_mismatch",
        `bundle lineage ${m.lineage} differs from the active lineage ${cur.lineage}`,
      );
    if (m.version < cur.version || (m.version === cur.version && m.digest !== cur.digest))
      return reject(
        "stale_version",
        m.version === cur.version
          ? `version ${m.version} has a different digest than the active version ${cur.version}`
          : `version ${m.version} is older than the active version ${cur.version}`,
      );
    if (m.version === cur.version) return { ok: true, noop: true, manifest: m };
  }

  const problems = opts.validate?.(bundle.policy) ?? [];
  if (problems.length > 0)
    return reject("invalid_policy", `policy of version ${m.version} is invalid: ${problems.join("; ")}`);
  return { ok: true, noop: false, manifest: m };
}
