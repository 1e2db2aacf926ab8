import { resolve } from "node:path";
import type { CompiledPolicy } from "../../core/model.js";
import { findPolicyRepo, type PolicyRepo } from "../git/policy-repo.js";
import { loadValidPolicy } from "../policy-source.js";
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

export interface EnvironmentOptions {
  cwd: string;
  policies: string;
  env?: string;
  store?: string;
  /** Push needs the policy; history, rollback and unpin only read its `bundles` section when they must. */
  requirePolicy: boolean;
}

export async function openEnvironment(opts: EnvironmentOptions): Promise<BundleEnvironment> {
  const policyDir = resolve(opts.cwd, opts.policies);
  const repo = await findPolicyRepo(opts.cwd, opts.policies);
  let policy: CompiledPolicy | null = null;
  if (opts.requirePolicy || opts.store === undefined || opts.env === undefined) {
    try {
      policy = loadValidPolicy(policyDir);
    } catch (err) {
      // A broken work tree must not block a rollback when the store and environment are given.
      if (opts.requirePolicy || opts.store === undefined) throw err;
    }
  }
  const env = resolveEnvironment(opts.env, policy?.bundles ?? null);
  const location = resolveStore({
    flag: opts.store,
    config: policy?.bundles ?? null,
    env,
    cwd: opts.cwd,
    repoRoot: repo?.root ?? null,
  });
  return { env, location, repo, policy, policyDir };
}
