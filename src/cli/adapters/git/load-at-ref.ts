import { resolve } from "node:path";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import { InputError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { fetchVerifiedBundle } from "../bundles/fetch-verified.js";
import { readerFor, resolveEnvironment, resolveStore } from "../bundles/location.js";
import { compilePolicyFiles, policyFilesAtRef } from "./policy-at-ref.js";
import { headCommit, type PolicyRepo } from "./policy-repo.js";

/** Where a compiled policy came from: a git ref (with its commit), the work tree, or a pushed bundle. */
export interface PolicySide {
  /** What the user asked for: "main", "HEAD", "work tree", "pushed v12 (production)". */
  ref: string;
  commit: string | null;
}

export interface LoadedPolicy {
  side: PolicySide;
  /** null only for `HEAD` in a repository without commits (the caller decides what that means). */
  policy: CompiledPolicy | null;
}

export { policyDigestOf } from "limitr-engine/adapters/bundles/crypto";

/**
 * The compiled policy at a git ref, or in the work tree when `ref` is
 * undefined. Reads at a ref go through git objects only, so the checkout is
 * never touched; every side is validated by the same validator as the work tree.
 */
export async function loadPolicyAt(
  repo: PolicyRepo | null,
  ref: string | undefined,
  cwd: string,
  policies: string,
): Promise<LoadedPolicy> {
  if (ref === undefined) {
    return { side: { ref: "work tree", commit: null }, policy: loadValidPolicy(resolve(cwd, policies)) };
  }
  if (!repo)
    throw new InputError(
      `${policies} is not inside a git repository, so "${ref}" cannot be read (run \`git init\`)`,
    );
  if (ref === "HEAD" && (await headCommit(repo)) === null)
    return { side: { ref: "HEAD", commit: null }, policy: null };
  const { commit, files } = await policyFilesAtRef(repo, ref);
  return { side: { ref, commit }, policy: compilePolicyFiles(files, `${ref} (${commit.slice(0, 7)})`) };
}

/**
 * The policy of the environment's current bundle (what production runs), or
 * null when the policy configures no bundle store or nothing was pushed yet.
 * The bundle's digest is checked against its content before it is used.
 */
export async function loadPushedPolicy(
  repo: PolicyRepo | null,
  config: CompiledPolicy["bundles"],
  cwd: string,
  envFlag: string | undefined,
): Promise<LoadedPolicy | null> {
  if (!config?.store) return null;
  const env = resolveEnvironment(envFlag, config);
  const location = resolveStore({ config, env, cwd, repoRoot: repo?.root ?? null });
  const outcome = await fetchVerifiedBundle(readerFor(location), {});
  if (outcome.status === "empty") return null;
  if (outcome.status === "rejected")
    throw new InputError(`the current bundle of ${env} was rejected: ${outcome.result.message}`);
  const { manifest, policy } = outcome.bundle;
  return {
    side: { ref: `pushed v${manifest.version} (${env})`, commit: manifest.source.commit ?? null },
    policy: policy as CompiledPolicy,
  };
}
