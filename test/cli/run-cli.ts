import { fileURLToPath } from "node:url";
import { Chalk } from "chalk";
import { execa } from "execa";
import type { CliContext } from "../../src/cli/context.js";
import { runCli } from "../../src/cli/program.js";
import { startProgress } from "../../src/cli/render/progress.js";
import { limitrVersion } from "../../src/engine/adapters/version.js";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../src/cli/bin/limitr.js", import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the built binary the way a user does; colour off, never throws on a
 * non-zero exit. For what only a real process shows: exit status, signals,
 * terminals, pipes, worker threads of the compiled build, concurrent processes.
 */
export async function limitrBinary(
  args: string[],
  cwd: string = REPO,
  env: Record<string, string> = {},
): Promise<CliResult> {
  const r = await execa(process.execPath, [BIN, ...args], {
    cwd,
    reject: false,
    env: { NO_COLOR: "1", FORCE_COLOR: "0", ...env },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * The same command line run in this process through `runCli`, with its own
 * cwd, environment and captured streams: what the binary would print, without
 * paying a Node start and module load per call. Off a terminal, colour off.
 *
 * Not for settings the engine reads from the process environment itself
 * (LIMITR_MAX_POLICY_FILE_MIB, LIMITR_PARALLEL_MIN_ROWS): those need
 * `limitrBinary`.
 */
export async function limitrInProcess(
  args: string[],
  cwd: string = REPO,
  env: Record<string, string> = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const ctx: CliContext = {
    cwd,
    version: limitrVersion(),
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
    isTTY: false,
    stderrIsTTY: false,
    color: new Chalk({ level: 0 }),
    stdout: {
      write: (text: string) => {
        stdout += text;
        return true;
      },
    },
    warn: (line) => {
      stderr += `${line}\n`;
    },
    progress: (options) => startProgress(options, process.stderr, false),
  };
  const exitCode = await runCli(args, ctx);
  // execa drops one final newline; so do we, so either runner compares the same text.
  return { exitCode, stdout: chomp(stdout), stderr: chomp(stderr) };
}

const chomp = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);

/** The default runner of CLI suites: in-process (see `limitrBinary` for the real process). */
export const limitr = limitrInProcess;
