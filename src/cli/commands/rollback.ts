import { sha256Digest } from "limitr-engine/adapters/bundles/crypto";
import { limitrVersion } from "limitr-engine/adapters/version";
import { defaultRollbackTarget, nextManifest } from "limitr-engine/core/bundles/manifest";
import { fetchBundle, readCurrent, readVersion } from "limitr-engine/core/bundles/port";
import { canonicalJson } from "limitr-engine/core/compile";
import { ConflictError, InputError, UsageError } from "limitr-engine/core/errors";
import { directoryReader, publish } from "../adapters/bundles/directory-store.js";
import { type EnvironmentFlags, openEnvironment } from "../adapters/bundles/environment.js";
import { requireWritable } from "../adapters/bundles/location.js";
import { gitUserEmail } from "../adapters/git/policy-repo.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPublish } from "../render/bundles.js";
import { parseVersion, signerFrom } from "./push.js";

interface RollbackOptions extends EnvironmentFlags {
  to?: string;
  signKey?: string;
  reason?: string;
  format?: string;
}

/**
 * Roll forward to an earlier version's content: a new version whose
 * `rollbackOf` names the restored one, then pin the environment so the next
 * routine push does not undo the rollback by accident.
 */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as RollbackOptions;
  const to = parseVersion(options.to, "--to");
  const target = await openEnvironment(options, ctx.cwd, false);
  const envDir = requireWritable(target.location, "rollback");
  const reader = directoryReader(envDir);
  const current = await readCurrent(reader);
  if (!current) throw new InputError(`nothing to roll back: ${envDir} has no published version`);

  let restore = current;
  if (to !== undefined) {
    if (to < 1 || to > current.manifest.version)
      throw new UsageError(`--to must be between 1 and ${current.manifest.version}`);
    const rec = await readVersion(reader, to);
    if (!rec) throw new InputError(`version ${to} is missing from ${envDir}/versions`);
    restore = rec;
  } else {
    const history = [];
    for (const n of await reader.listVersions()) {
      const rec = await readVersion(reader, n);
      if (rec) history.push(rec.manifest);
    }
    const found = defaultRollbackTarget(history, current.manifest);
    if (!found)
      throw new InputError(`no earlier version of ${target.env} has different content to roll back to`);
    restore = (await readVersion(reader, found.version)) ?? current;
  }

  // Never republish content we cannot vouch for: the blob must still hash to its recorded digest.
  const bundle = await fetchBundle(reader, restore);
  const policyJson = canonicalJson(bundle.policy);
  const digest = sha256Digest(policyJson);
  if (digest !== restore.manifest.digest)
    throw new ConflictError(
      `version ${restore.manifest.version}'s blob does not match its digest (store tampered or corrupt)`,
    );

  const by = await gitUserEmail(target.repo, ctx.env);
  const version = restore.manifest.version;
  const result = await publish(envDir, {
    policyJson,
    digest,
    sign: signerFrom(options.signKey, ctx),
    expectVersion: current.manifest.version,
    ignorePin: true,
    manifest: (latest) =>
      nextManifest(latest, {
        project: current.manifest.project,
        environment: target.env,
        digest,
        size: Buffer.byteLength(policyJson),
        source: restore.manifest.source,
        createdAt: new Date().toISOString(),
        createdBy: by,
        limitrVersion: limitrVersion(),
        rollbackOf: version,
        newLineage: current.manifest.lineage,
      }),
    pin: (v) => ({
      version: v,
      by,
      at: new Date().toISOString(),
      reason: options.reason ?? `rollback to version ${version}`,
    }),
  });
  return {
    output: renderPublish(result, {
      env: target.env,
      store: envDir,
      format: options.format ?? "text",
      color: ctx.color,
      rollbackOf: version,
    }),
    exitCode: 0,
  };
}
