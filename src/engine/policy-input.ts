import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { loadValidPolicy } from "../adapters/policy-source.js";
import { canonicalJson } from "../core/compile.js";
import { PolicyError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";

/** A compiled bundle as `limitr push` publishes it (SPEC §7); only these manifest fields matter here. */
export interface BundleDocument {
  manifest: { version: number; digest: string; [field: string]: unknown };
  policy: CompiledPolicy;
}

/** Where the engine's policy comes from: a policy directory, a bundle JSON file, or an object. */
export type PolicyInput = string | CompiledPolicy | BundleDocument;

export interface ActivePolicy {
  policy: CompiledPolicy;
  /** Bundle version; 0 for a policy directory or an in-memory policy (not published). */
  version: number;
  /** sha256 of the canonical JSON of the policy, hex. */
  digest: string;
}

/** sha256 (hex) of the canonical JSON of a compiled policy: the identity of a policy (R14). */
export function policyDigest(policy: CompiledPolicy): string {
  return createHash("sha256").update(canonicalJson(policy)).digest("hex");
}

/** Load and identify the policy an engine runs under. A bundle whose digest does not match its content is refused. */
export function loadPolicyInput(input: PolicyInput): ActivePolicy {
  if (typeof input !== "string") return fromObject(input, "the policy object");
  let isDir: boolean;
  try {
    isDir = statSync(input).isDirectory();
  } catch {
    throw new PolicyError(`policy ${input} does not exist (pass a policy directory or a bundle .json file)`);
  }
  if (isDir) {
    const policy = loadValidPolicy(input);
    return { policy, version: 0, digest: policyDigest(policy) };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(input, "utf8"));
  } catch (err) {
    throw new PolicyError(`bundle ${input} is not valid JSON: ${(err as Error).message}`);
  }
  return fromObject(doc as CompiledPolicy | BundleDocument, input);
}

function fromObject(input: CompiledPolicy | BundleDocument, where: string): ActivePolicy {
  if (isBundle(input)) {
    const digest = policyDigest(input.policy);
    const claimed = input.manifest.digest.replace(/^sha256:/, "");
    if (claimed !== digest) {
      throw new PolicyError(
        `${where}: manifest digest ${claimed} does not match the policy (${digest}); refusing it`,
      );
    }
    return { policy: input.policy, version: input.manifest.version, digest };
  }
  if ((input as CompiledPolicy).formatVersion !== 1 || typeof (input as CompiledPolicy).plans !== "object") {
    throw new PolicyError(`${where} is neither a compiled policy nor a bundle ({ manifest, policy })`);
  }
  return { policy: input as CompiledPolicy, version: 0, digest: policyDigest(input as CompiledPolicy) };
}

function isBundle(v: unknown): v is BundleDocument {
  const o = v as BundleDocument | null;
  return !!o && typeof o === "object" && !!o.manifest && typeof o.manifest.digest === "string" && !!o.policy;
}
