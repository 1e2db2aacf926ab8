import { unpin } from "../adapters/bundles/directory-store.js";
import { type EnvironmentFlags, openEnvironment } from "../adapters/bundles/environment.js";
import { requireWritable } from "../adapters/bundles/location.js";
import type { CliContext, CommandOutcome } from "../context.js";

interface UnpinOptions extends EnvironmentFlags {
  format?: string;
}

/** Lift a rollback's pin so routine pushes publish again. */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as UnpinOptions;
  const target = await openEnvironment(options, ctx.cwd, false);
  const envDir = requireWritable(target.location, "unpin");
  const removed = await unpin(envDir);
  if (options.format === "json") {
    const json = { formatVersion: 1, environment: target.env, store: envDir, unpinned: removed };
    return { output: JSON.stringify(json, null, 2), exitCode: 0 };
  }
  const output = removed
    ? `Unpinned ${target.env} (was pinned at version ${removed.version} by ${removed.by}: ${removed.reason}). Pushes publish again.`
    : `${target.env} is not pinned; nothing to do.`;
  return { output, exitCode: 0 };
}
