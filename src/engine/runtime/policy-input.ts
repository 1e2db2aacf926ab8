import { readFileSync, statSync } from "node:fs";
import { policyDigestOf } from "../adapters/bundles/crypto.js";
import {
  compiledPolicyProblems,
  loadCompiledChecker,
  loadValidPolicyCached,
} from "../adapters/policy-cache.js";
import { PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";

/** A compiled bundle as `limitr push` publishes it (SPEC §7); only these manifest fields matter here. */
export type PolicySourceKind = "store" | "cache" | "directory" | "file" | "object";

export interface BundleDocument {
  manifest: { version: number; digest: string; [field: string]: unknown };
  policy: CompiledPolicy;
}

/**
 * A bundle store environment to load from and keep polling (SPEC §7): the
 * directory `limitr push` writes, or the same layout on any static host.
 *
 * @example
 *   await Limitr.open({
 *     policy: { store: "https://cdn.example.com/limitr", env: "production", publicKeys: [pem] },
 *     store: "sqlite:/var/lib/app/usage.db",
 *   });
 */
export interface BundleStoreInput {
  /** The store root (a directory or an http(s) URL); the environment is `<store>/<env>`. */
  store?: string;
  /** Environment name; required with `store`. With `url` it names the cache file (default: the URL's last segment). */
  env?: string;
  /** The environment's own location (directory or URL), instead of `store` + `env`. */
  url?: string;
  /** Trusted Ed25519 public keys (SPKI PEM text). When given, unsigned bundles are rejected. */
  publicKeys?: string[];
  /** Poll interval in ms (default 10,000), jittered by ±20 %. */
  pollMs?: number;
  /** Where the last good bundle is persisted for cold starts. Default: `<dir of the SQLite file>/bundle-cache`; none for other stores. */
  cacheDir?: string;
  /**
   * Time allowed for one fetch of the store, pointer and blob together, in ms
   * (default 10,000): at open (then the cached bundle is used) and at each poll.
   */
  timeoutMs?: number;
  /** Largest pointer or blob accepted, in bytes (default 32 MiB): a larger one is aborted while it downloads (`too_large`). */
  maxBundleBytes?: number;
}

/** Where the engine's policy comes from: a policy directory, a bundle JSON file, an object, or a bundle store. */
export type PolicyInput = string | CompiledPolicy | BundleDocument | BundleStoreInput;

export interface ActivePolicy {
  policy: CompiledPolicy;
  /** Bundle version; 0 for a policy directory or an in-memory policy (not published). */
  version: number;
  /** `sha256:<hex>` of the canonical JSON of the policy (the bundle digest, R14). */
  digest: string;
  source: PolicySourceKind;
}

export function isBundleStoreInput(input: PolicyInput): input is BundleStoreInput {
  if (typeof input !== "object" || input === null) return false;
  const o = input as Partial<BundleStoreInput> & { formatVersion?: unknown; manifest?: unknown };
  return (typeof o.store === "string" || typeof o.url === "string") && !o.manifest && !o.formatVersion;
}

/**
 * Load and identify a static policy (not a bundle store). A bundle whose
 * digest does not match its content is refused. A policy directory is
 * validated through the validation cache (adapters/policy-cache.ts).
 */
export async function loadPolicyInput(input: Exclude<PolicyInput, BundleStoreInput>): Promise<ActivePolicy> {
  if (typeof input !== "string") return await fromObject(input, "the policy object", "object");
  let isDir: boolean;
  try {
    isDir = statSync(input).isDirectory();
  } catch {
    throw new PolicyError(`policy ${input} does not exist (pass a policy directory or a bundle .json file)`);
  }
  if (isDir) {
    const policy = await loadValidPolicyCached(input);
    return { policy, version: 0, digest: policyDigestOf(policy), source: "directory" };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(input, "utf8"));
  } catch (err) {
    throw new PolicyError(`bundle ${input} is not valid JSON: ${(err as Error).message}`);
  }
  return await fromObject(doc as CompiledPolicy | BundleDocument, input, "file");
}

async function fromObject(
  input: CompiledPolicy | BundleDocument,
  where: string,
  source: PolicySourceKind,
): Promise<ActivePolicy> {
  if (isBundle(input)) {
    const digest = policyDigestOf(input.policy);
    const claimed = input.manifest.digest;
    if (claimed !== digest) {
      throw new PolicyError(
        `${where}: manifest digest ${claimed} does not match the policy (${digest}); refusing it`,
      );
    }
    return {
      policy: await sound(input.policy, digest, where),
      version: input.manifest.version,
      digest,
      source,
    };
  }
  if ((input as CompiledPolicy).formatVersion !== 1 || typeof (input as CompiledPolicy).plans !== "object") {
    throw new PolicyError(`${where} is neither a compiled policy nor a bundle ({ manifest, policy })`);
  }
  // A policy object built in memory is the caller's own (tests build deliberately odd ones); a file is checked.
  const policy = input as CompiledPolicy;
  const digest = policyDigestOf(policy);
  if (source === "file") await sound(policy, digest, where);
  return { policy, version: 0, digest, source };
}

/**
 * A bundle or policy file passes the same checks as a bundle from a store (and
 * so every rule of `limitr validate`); a policy of this digest found sound
 * before is taken from the validation cache, and the validator (schema,
 * semantic rules) is loaded only when the policy has to be checked.
 */
async function sound(policy: CompiledPolicy, digest: string, where: string): Promise<CompiledPolicy> {
  const problems = await compiledPolicyProblems(policy, digest, loadCompiledChecker);
  if (problems.length === 0) return policy;
  throw new PolicyError(`${where} is not a valid policy:\n${problems.map((p) => `  ${p}`).join("\n")}`);
}

function isBundle(v: unknown): v is BundleDocument {
  const o = v as BundleDocument | null;
  return !!o && typeof o === "object" && !!o.manifest && typeof o.manifest.digest === "string" && !!o.policy;
}
