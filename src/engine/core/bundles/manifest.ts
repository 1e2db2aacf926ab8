import type { CompiledPolicy } from "../model.js";

/**
 * Bundle manifests and the rules of an environment's version history
 * (SPEC §7). Pure: ids, times and digests come in as arguments.
 */
export const BUNDLE_FORMAT_VERSION = 1;

export interface BundleSource {
  /** Commit the policy was compiled from; null outside git. */
  commit: string | null;
  /** Branch (or `HEAD` when detached); null outside git. */
  ref: string | null;
  /** The policy directory had uncommitted changes. */
  dirty: boolean;
}

export interface BundleManifest {
  formatVersion: 1;
  project: string;
  environment: string;
  /** Random id fixed at the environment's first push: a bundle from another history is never accepted. */
  lineage: string;
  /** Monotonic from 1, one per published version. */
  version: number;
  /** `sha256:<hex>` of the canonical policy JSON. */
  digest: string;
  /** Bytes of the blob (the canonical policy JSON, UTF-8); absent in bundles published before it existed. */
  size?: number;
  parent: { version: number; digest: string } | null;
  /** Version whose content this one restores, or null. */
  rollbackOf: number | null;
  source: BundleSource;
  createdAt: string;
  createdBy: string;
  limitrVersion: string;
  /** Present (true) when `push --skip-tests` published without running the policy tests. */
  testsSkipped?: boolean;
}

export interface BundleSignature {
  algorithm: "ed25519";
  /** Short sha256 of the signer's public key (SPKI DER), so a client picks the right trusted key. */
  keyId: string;
  /** base64 Ed25519 signature over `canonicalJson(manifest)`. */
  value: string;
}

/**
 * What `current.json` and `versions/<n>.json` hold: the manifest, its
 * signature and where the content lives (`blobs/sha256/<hex>.json`, relative
 * to the environment directory).
 */
export interface BundleRecord {
  formatVersion: 1;
  manifest: BundleManifest;
  signature: BundleSignature | null;
  blob: string;
}

/** A fetched bundle: a record plus the policy its blob holds. */
export interface Bundle {
  manifest: BundleManifest;
  signature: BundleSignature | null;
  policy: CompiledPolicy;
}

/** Who asked for the version and what it carries; the history supplies the rest. */
export interface ManifestInput {
  project: string;
  environment: string;
  digest: string;
  /** Bytes of the blob (recorded so loaders can refuse an oversized blob before fetching it). */
  size?: number;
  source: BundleSource;
  createdAt: string;
  createdBy: string;
  limitrVersion: string;
  rollbackOf?: number | null;
  /** `push --skip-tests`. */
  testsSkipped?: boolean;
  /** Used only for the environment's first version. */
  newLineage: string;
}

/** The manifest of the version after `current` (or the first one). */
export function nextManifest(current: BundleManifest | null, input: ManifestInput): BundleManifest {
  return {
    formatVersion: BUNDLE_FORMAT_VERSION,
    project: input.project,
    environment: input.environment,
    lineage: current?.lineage ?? input.newLineage,
    version: (current?.version ?? 0) + 1,
    digest: input.digest,
    ...(input.size === undefined ? {} : { size: input.size }),
    parent: current ? { version: current.version, digest: current.digest } : null,
    rollbackOf: input.rollbackOf ?? null,
    source: input.source,
    createdAt: input.createdAt,
    createdBy: input.createdBy,
    limitrVersion: input.limitrVersion,
    ...(input.testsSkipped ? { testsSkipped: true } : {}),
  };
}

/** `blobs/sha256/<hex>.json` for a `sha256:<hex>` digest. */
export function blobPath(digest: string): string {
  const hex = digest.startsWith("sha256:") ? digest.slice(7) : digest;
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a sha256 digest: ${digest}`);
  return `blobs/sha256/${hex}.json`;
}

/** `sha256:0123abcd…` shortened for tables. */
export function shortDigest(digest: string, length = 12): string {
  return digest.replace(/^sha256:/, "").slice(0, length);
}

/**
 * The version a rollback restores when none is named: the newest version
 * before the current one whose content differs from the current content.
 */
export function defaultRollbackTarget(
  history: BundleManifest[],
  current: BundleManifest,
): BundleManifest | null {
  const older = history.filter((m) => m.version < current.version).sort((a, b) => b.version - a.version);
  return older.find((m) => m.digest !== current.digest) ?? null;
}

/** An environment pinned by a rollback: routine pushes are refused until it is unpinned. */
export interface PinRecord {
  version: number;
  by: string;
  at: string;
  reason: string;
}

/** Environment names become directory names and URL segments. */
export function checkEnvironmentName(name: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)
    ? null
    : `environment name "${name}" must be letters, digits, ".", "_" or "-" (at most 64)`;
}
