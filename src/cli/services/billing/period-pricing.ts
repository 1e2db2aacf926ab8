import { policyDigestOf } from "limitr-engine/adapters/bundles/crypto";
import type { PeriodPricing } from "limitr-engine/adapters/store/bill-run";
import { validateCompiledPolicy } from "limitr-engine/core/bundles/validate-compiled";
import { InputError, LimitrError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { formatInstant, type NamedPeriod } from "limitr-engine/core/periods";
import { pricingPieces } from "limitr-engine/core/rating/pricing-timeline";
import type { UsageStore } from "limitr-engine/core/usage/store-port";
import { readerFor, resolveEnvironment, resolveStore } from "../../adapters/bundles/location.js";
import { findPolicyRepo } from "../../adapters/git/policy-repo.js";

/** Which policies price a billed period, and why (SPEC §15). */
export interface ResolvedPricing {
  pieces: PeriodPricing[];
  source: "activations" | "policies";
  /** Said on stderr and in the JSON: a fallback, or a part of the period no activation covers. */
  note: string | null;
}

export interface PricingRequest {
  /** The work tree policy (`--policies`). */
  workTree: CompiledPolicy;
  policiesDir: string;
  /** `--policies` was given on the command line: it prices the whole period, whatever ran. */
  explicit: boolean;
  /** `--store` and `--env`: where the bundles of the recorded versions are (default: `bundles` of the policy). */
  store?: string;
  env?: string;
  cwd: string;
}

/**
 * The policies that priced `period`: each version the store's engines
 * activated during it (R14), read from the bundle store by digest (the work
 * tree serves a version with the same content). Without any recorded
 * activation, the work tree prices the period, and the note says so.
 */
export async function periodPricing(
  db: UsageStore,
  period: NamedPeriod,
  req: PricingRequest,
): Promise<ResolvedPricing> {
  const whole = (policy: CompiledPolicy): PeriodPricing[] => [
    { policy, start: period.start, end: period.end, version: null, digest: policyDigestOf(policy) },
  ];
  if (req.explicit) return { pieces: whole(req.workTree), source: "policies", note: null };
  const pieces = pricingPieces(await db.bundleActivations(), period);
  if (pieces.length === 0) {
    return {
      pieces: whole(req.workTree),
      source: "policies",
      note: `no bundle activation is recorded in the store before the end of ${period.label}: priced with the policy directory ${req.policiesDir}`,
    };
  }
  const zone = req.workTree.timezone;
  const workDigest = policyDigestOf(req.workTree);
  const loaded = new Map<string, CompiledPolicy>([[workDigest, req.workTree]]);
  let reader: ReturnType<typeof readerFor> | null = null;
  const out: PeriodPricing[] = [];
  for (const piece of pieces) {
    let policy = loaded.get(piece.digest);
    if (!policy) {
      const what = `${piece.version === 0 ? "an unpublished policy" : `version ${piece.version}`} (${piece.digest}), active from ${formatInstant(piece.start, zone)}`;
      reader ??= await bundleReader(req, what);
      policy = await policyByDigest(reader, piece.digest, what);
      loaded.set(piece.digest, policy);
    }
    out.push({ policy, start: piece.start, end: piece.end, version: piece.version, digest: piece.digest });
  }
  const first = pieces[0];
  const note =
    first?.beforeFirstRecord === true
      ? `${period.label} starts before the first recorded activation (${formatInstant(pieces[1]?.start ?? period.end, zone)} or later): version ${first.version} prices its start`
      : null;
  return { pieces: out, source: "activations", note };
}

async function bundleReader(req: PricingRequest, what: string) {
  try {
    const repo = await findPolicyRepo(req.cwd, req.policiesDir);
    const env = resolveEnvironment(req.env, req.workTree.bundles);
    const location = resolveStore({
      flag: req.store,
      config: req.workTree.bundles,
      env,
      cwd: req.cwd,
      repoRoot: repo?.root ?? null,
    });
    return readerFor(location);
  } catch (err) {
    if (!(err instanceof LimitrError)) throw err;
    throw new InputError(
      `${what} is not the work tree's policy, and there is no bundle store to read it from (${err.message}); pass --store DIR [--env ENV], or --policies DIR to price the whole period with one policy directory`,
    );
  }
}

async function policyByDigest(
  reader: ReturnType<typeof readerFor>,
  digest: string,
  what: string,
): Promise<CompiledPolicy> {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
  const text = hex ? await reader.readText(`blobs/sha256/${hex}.json`) : null;
  if (text === null)
    throw new InputError(
      `${what} is not in the bundle store ${reader.location}: pass the right --store/--env, or --policies DIR to price the whole period with one policy directory`,
    );
  let policy: CompiledPolicy;
  try {
    policy = JSON.parse(text) as CompiledPolicy;
  } catch {
    throw new InputError(`${reader.location}/blobs/sha256/${hex}.json is not valid JSON (${what})`);
  }
  if (policyDigestOf(policy) !== digest)
    throw new InputError(
      `${reader.location}/blobs/sha256/${hex}.json does not hash to ${digest}: the store is corrupt`,
    );
  const problems = validateCompiledPolicy(policy);
  if (problems.length > 0)
    throw new InputError(
      `${what} in ${reader.location} is not a valid policy: ${problems.slice(0, 3).join("; ")}`,
    );
  return policy;
}
