import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { UsageError } from "limitr-engine";
import { findPolicyRepo } from "../adapters/git/policy-repo.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { newToken } from "../studio/access.js";
import { buildStudio } from "../studio/server.js";
import { WEB_ROOT } from "../studio/static-files.js";
import { Workspace } from "../studio/workspace.js";

/**
 * `limitr studio`: a local web app to browse and change pricing (SPEC §14).
 * Listens on 127.0.0.1 only; the first line on stdout is the URL with the
 * access token, which is the only way in. SIGINT or SIGTERM stops it.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const port = Number(options.port ?? 4300);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port must be a whole number from 0 to 65535 (got "${String(options.port)}")`);
  const policies = String(options.policies ?? "./policies");
  const dir = resolve(ctx.cwd, policies);
  const repo = await findPolicyRepo(ctx.cwd, policies);
  if (!repo)
    ctx.warn("note: the policy directory is not in a git repository: changes cannot be saved as commits");
  const token = newToken();
  const app = buildStudio({
    token,
    workspace: new Workspace(repo?.policyDir ?? dir, repo?.root ?? ctx.cwd),
    repo,
    policies,
    cwd: ctx.cwd,
    db: resolve(ctx.cwd, String(options.db ?? ".limitr/usage.db")),
    webRoot: WEB_ROOT,
    log: ctx.warn,
    ctx,
  });
  const stopped = new Promise<string>((done) => {
    process.once("SIGTERM", () => done("SIGTERM"));
    process.once("SIGINT", () => done("SIGINT"));
  });
  await app.listen({ host: "127.0.0.1", port });
  const address = app.server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const url = `http://127.0.0.1:${bound}/?token=${token}`;
  process.stdout.write(`${url}\n`);
  ctx.warn(`limitr studio: open ${url} (only this URL gets in; stop with Ctrl-C)`);
  if (options.open === true) openBrowser(url, ctx);
  const signal = await stopped;
  ctx.warn(`limitr studio: ${signal}: stopping`);
  await app.close();
  return { output: "", exitCode: 0 };
}

/** The platform's "open this URL" command; a failure only means the person opens it by hand. */
function openBrowser(url: string, ctx: CliContext): void {
  const command =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  const child = spawn(command, [url], { stdio: "ignore", detached: true });
  child.on("error", () =>
    ctx.warn(`limitr studio: could not open a browser (${command}); open the URL above`),
  );
  child.unref();
}
