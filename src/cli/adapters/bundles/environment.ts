import { resolve } from "node:path";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { findPolicyRepo, type PolicyRepo } from "../git/policy-repo.js";
import { resolveEnvironment, resolveStore, type StoreLocation } from "./location.js";

/** The environment a bundle command works on, with what it was resolved from. */
export interface BundleEnvironment {
  env: string;
  location: StoreLocation;
  repo: PolicyRepo | null;
  /** The work tree policy, when it was needed (push) or could be read (the other commands). */
  policy: CompiledPolicy | null;
  policyDir: string;
}

/** The flags every bundle command takes: `--policies`, `--env`, `--store`. */
export interface EnvironmentFlags {
  policies: string;
  env?: string;
  store?: string;
}

/**
 * Resolve the environment and bundle store named by `flags`, from `cwd`. Push
 * needs the policy (`requirePolicy`); history, rollback and unpin only read
 * its `bundles` section when they must.
 */
export async function openEnvironment(
  flags: EnvironmentFlags,
  cwd: string,
  requirePolicy: boolean,
): Promise<BundleEnvironment> {
  const policyDir = resolve(cwd, flags.policies);
  const repo = await findPolicyRepo(cwd, flags.policies);
  let policy: CompiledPolicy | null = null;
  if (requirePolicy || flags.store === undefined || flags.env === undefined) {
    try {
      policy = loadValidPolicy(policyDir);
    } catch (err) {
      // A broken work tree must not block a rollback when the store and environment are given.
      if (requirePolicy || flags.store === undefined) throw err;
    }
  }
  const env = resolveEnvironment(flags.env, policy?.bundles ?? null);
  const location = resolveStore({
    flag: flags.store,
    config: policy?.bundles ?? null,
    env,
    cwd,
    repoRoot: repo?.root ?? null,
  });
  return { env, location, repo, policy, policyDir };
}
