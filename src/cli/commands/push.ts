import { randomUUID } from "node:crypto";
import { loadSigningKey, sha256Digest, signManifest } from "limitr-engine/adapters/bundles/crypto";
import { limitrVersion } from "limitr-engine/adapters/version";
import { nextManifest } from "limitr-engine/core/bundles/manifest";
import { canonicalJson } from "limitr-engine/core/compile";
import { CheckFailedError, InputError, PolicyError, UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { formatDiagnostic } from "limitr-engine/core/policy/diagnostics";
import { publish } from "../adapters/bundles/directory-store.js";
import { type EnvironmentFlags, openEnvironment } from "../adapters/bundles/environment.js";
import { requireWritable } from "../adapters/bundles/location.js";
import { currentRef, dirtyPolicyFiles, gitUserEmail, headCommit } from "../adapters/git/policy-repo.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPublish } from "../render/bundles.js";
import { loadTests, runCases } from "../services/policy-tests/run-tests.js";

interface PushOptions extends EnvironmentFlags {
  signKey?: string;
  skipTests?: boolean;
  expectVersion?: string;
  allowDirty?: boolean;
  force?: boolean;
  format?: string;
}

export function parseVersion(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number (got "${value}")`);
  return Number(value);
}

/** `--sign-key FILE`, else $LIMITR_SIGN_KEY (CI secrets are files or env vars). */
export function signerFrom(flag: string | undefined, ctx: Pick<CliContext, "env" | "cwd">) {
  const file = flag ?? (ctx.env.LIMITR_SIGN_KEY || undefined);
  if (!file) return null;
  const key = loadSigningKey(file, ctx.cwd);
  return (m: Parameters<typeof signManifest>[0]) => signManifest(m, key);
}

export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as PushOptions;
  const expectVersion = parseVersion(options.expectVersion, "--expect-version");
  const target = await openEnvironment(options, ctx.cwd, true);
  const envDir = requireWritable(target.location, "push");
  const policy = target.policy!;
  const repo = target.repo;

  const commit = repo ? await headCommit(repo) : null;
  const dirtyFiles = repo ? await dirtyPolicyFiles(repo) : [];
  // Outside git, or before the first commit, nothing ties the bundle to a reviewed commit: treat as dirty.
  const dirty = !repo || commit === null || dirtyFiles.length > 0;
  if (dirty && !options.allowDirty) {
    const why = !repo
      ? `${options.policies} is not in a git repository`
      : commit === null
        ? "the repository has no commits yet"
        : `the policy directory has uncommitted changes: ${dirtyFiles.slice(0, 5).join(", ")}${dirtyFiles.length > 5 ? ", ..." : ""}`;
    throw new InputError(`${why}; commit first, or pass --allow-dirty to publish anyway (recorded as dirty)`);
  }

  const skipTests = options.skipTests === true;
  if (skipTests)
    ctx.warn("warning: --skip-tests: publishing without running the policy tests (recorded in the manifest)");
  else await requirePassingTests(policy, options.policies, ctx);

  const sign = signerFrom(options.signKey, ctx);
  const policyJson = canonicalJson(policy);
  const digest = sha256Digest(policyJson);
  const createdBy = await gitUserEmail(repo, ctx.env);
  const source = { commit, ref: repo ? await currentRef(repo) : null, dirty };
  const result = await publish(envDir, {
    policyJson,
    digest,
    sign,
    expectVersion,
    ignorePin: options.force === true,
    manifest: (latest) =>
      nextManifest(latest, {
        project: policy.name,
        environment: target.env,
        digest,
        size: Buffer.byteLength(policyJson),
        source,
        createdAt: new Date().toISOString(),
        createdBy,
        limitrVersion: limitrVersion(),
        newLineage: randomUUID(),
        ...(skipTests ? { testsSkipped: true } : {}),
      }),
  });
  return {
    output: renderPublish(result, {
      env: target.env,
      store: envDir,
      format: options.format ?? "text",
      color: ctx.color,
    }),
    exitCode: 0,
  };
}

/**
 * `limitr test` before publishing: a policy whose own tests fail is not
 * pushed (exit 4), nor one whose test files are invalid (exit 3). A policy
 * without tests publishes as before.
 */
async function requirePassingTests(policy: CompiledPolicy, policies: string, ctx: CliContext): Promise<void> {
  const loaded = loadTests(policies, ctx.cwd);
  if (loaded.files.length === 0) return;
  const errors = loaded.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) {
    for (const d of errors) ctx.warn(formatDiagnostic(d));
    throw new PolicyError(
      `${errors.length} problem(s) in the policy test files; nothing published (fix them, or pass --skip-tests)`,
    );
  }
  const results = await runCases(policy, loaded.cases);
  const failed = results.filter((r) => r.status !== "passed");
  if (failed.length > 0) {
    for (const r of failed) ctx.warn(`  failed: ${r.name} (${r.file}:${r.line})`);
    throw new CheckFailedError(
      `${failed.length} of ${results.length} policy test(s) failed; nothing published. Run \`limitr test\` for details, or pass --skip-tests to publish anyway (recorded in the manifest as testsSkipped)`,
    );
  }
  ctx.warn(`policy tests: ${results.length} passed`);
}
