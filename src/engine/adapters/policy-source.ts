import type { CompiledPolicy } from "../core/model.js";
import { type ValidationResult, validatePolicyFiles } from "../core/policy/validate.js";
import { compiledOrThrow } from "./policy-cache.js";
import { displayPath, maxPolicyFileBytes, readPolicyFiles } from "./policy-files.js";

/**
 * Reading a policy directory from disk and validating it. Validation itself
 * is pure (`validatePolicyFiles`); finding and reading the files is
 * ./policy-files.ts. These are the synchronous forms; `Limitr.open` and
 * `limitr validate` go through the cache (./policy-cache.ts).
 */

export {
  displayPath,
  linkProblem,
  maxPolicyFileBytes,
  policyFiles,
  policyTree,
  readPolicyFiles,
} from "./policy-files.js";

/** Validate the policy directory `dir`; diagnostics name files relative to `cwd`. Throws InputError when `dir` is unreadable. */
export function validatePolicyDir(dir: string, cwd: string = process.cwd()): ValidationResult {
  const maxFileBytes = maxPolicyFileBytes();
  return validatePolicyFiles(readPolicyFiles(dir, cwd, maxFileBytes), {
    root: displayPath(dir, cwd),
    maxFileBytes,
  });
}

/**
 * Read a policy directory and return the compiled policy, or throw a
 * PolicyError listing every problem (one SPEC §5 line each). Warnings do not
 * stop loading; `limitr validate --strict` is where they fail a build.
 */
export function loadValidPolicy(dir: string): CompiledPolicy {
  return compiledOrThrow(dir, validatePolicyDir(dir));
}
