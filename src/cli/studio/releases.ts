import type { CliContext } from "../context.js";

/**
 * The history page's bundle side: what `limitr history --env E --format json`
 * prints, and a rollback that is `limitr rollback --env E --to N` itself (the
 * same command function, so the studio cannot roll back differently).
 */
export interface ReleaseWhere {
  policies: string;
  ctx: CliContext;
}

type CommandModule = {
  run(options: Record<string, unknown>, ctx: CliContext): Promise<{ output: string; exitCode: number }>;
};

async function runJson(
  load: () => Promise<CommandModule>,
  options: Record<string, unknown>,
  ctx: CliContext,
) {
  const { run } = await load();
  const outcome = await run({ ...options, format: "json" }, ctx);
  return JSON.parse(outcome.output) as Record<string, unknown>;
}

/** The environment's published versions, newest first. */
export function bundleHistory(where: ReleaseWhere, env: string | undefined) {
  return runJson(() => import("../commands/history.js"), { policies: where.policies, env }, where.ctx);
}

/** Publish version `to`'s content as a new version and pin the environment, as `limitr rollback` does. */
export function rollback(where: ReleaseWhere, env: string, to: number, reason: string) {
  return runJson(
    () => import("../commands/rollback.js"),
    { policies: where.policies, env, to: String(to), ...(reason.trim() ? { reason: reason.trim() } : {}) },
    where.ctx,
  );
}
