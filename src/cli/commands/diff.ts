import { policyDigestOf } from "limitr-engine/adapters/bundles/crypto";
import { compilePolicy } from "limitr-engine/core/compile";
import { diffPolicies } from "limitr-engine/core/diff/diff-policies";
import { InputError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { loadPolicyAt } from "../adapters/git/load-at-ref.js";
import { findPolicyRepo } from "../adapters/git/policy-repo.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { type DiffReport, renderDiff, type Side } from "../render/diff.js";

interface DiffOptions {
  policies: string;
  format?: string;
  detailedExitcode?: boolean;
  args: (string | undefined)[];
}

/** Nothing at all, shaped like the other side so only its resources show as added. */
function emptyLike(other: CompiledPolicy): CompiledPolicy {
  return {
    ...compilePolicy({ limitr: 1 }),
    name: other.name,
    currency: other.currency,
    timezone: other.timezone,
    currencyDigits: other.currencyDigits,
  };
}

/**
 * `limitr diff [BASE] [HEAD]`: BASE defaults to HEAD, HEAD to the work tree.
 * Compares compiled policies (see core/diff); exit 2 on changes only with --detailed-exitcode.
 */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as DiffOptions;
  const [baseRef = "HEAD", headRef] = options.args;
  const repo = await findPolicyRepo(ctx.cwd, options.policies);
  const head = await loadPolicyAt(repo, headRef, ctx.cwd, options.policies);
  const base = await loadPolicyAt(repo, baseRef, ctx.cwd, options.policies);
  if (!head.policy)
    throw new InputError("the repository has no commits yet: compare against the work tree instead");
  if (!base.policy) ctx.warn("note: the repository has no commits yet; comparing with an empty policy");
  const basePolicy = base.policy ?? emptyLike(head.policy);
  const report: DiffReport = {
    base: side(base.side, basePolicy),
    head: side(head.side, head.policy),
    diff: diffPolicies(basePolicy, head.policy),
  };
  const output = renderDiff(report, options.format ?? "text", ctx.color);
  return { output, exitCode: options.detailedExitcode && report.diff.changes.length > 0 ? 2 : 0 };
}

function side(s: { ref: string; commit: string | null }, policy: CompiledPolicy): Side {
  return { ...s, digest: policyDigestOf(policy) };
}
