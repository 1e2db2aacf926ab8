import chalk, { Chalk, type ChalkInstance } from "chalk";
import { limitrVersion } from "limitr-engine/adapters/version";
import { type Progress, type ProgressOptions, startProgress } from "./render/progress.js";
import type { View } from "./render/view.js";

/** What a command may use besides its options: streams, colour, the environment. Passed in so tests can capture it. */
export interface CliContext {
  cwd: string;
  /** limitr's own version (package.json). */
  version: string;
  env: NodeJS.ProcessEnv;
  /** stdout is a terminal (progress bars, ink views). */
  isTTY: boolean;
  /** stderr is a terminal: progress belongs there. */
  stderrIsTTY: boolean;
  color: ChalkInstance;
  /** Where results go: process.stdout for the binary, a buffer for an in-process caller. */
  stdout: OutputStream;
  /** Write a diagnostic line to stderr. */
  warn(line: string): void;
  /** A progress bar for long work: on stderr when it is a terminal, nothing otherwise. */
  progress(options: ProgressOptions): Progress;
}

/** The part of a stream the CLI writes to; `columns` sizes ink tables on a terminal. */
export interface OutputStream {
  write(text: string): unknown;
  columns?: number;
}

/** Options every command accepts (SPEC §5). */
export interface GlobalOptions {
  policies: string;
  db: string;
  format?: string;
}

/** What a command returns: something to print on stdout and the exit code it implies. */
export interface CommandOutcome {
  /** The plain result (pipes, CI, `--format json`): stable, what tests compare. */
  output: string;
  exitCode: number;
  /** The same result as text and tables, drawn with ink when stdout is a terminal. */
  view?: View;
  /**
   * A failure that happened after the output was computed (e.g. a Stripe push
   * after the invoices were rated): the output is still printed, then the
   * error is reported and sets the exit code.
   */
  error?: unknown;
}

export function defaultContext(): CliContext {
  const noColor = "NO_COLOR" in process.env && process.env.NO_COLOR !== "";
  const useColor = !noColor && Boolean(process.stdout.isTTY) && process.env.TERM !== "dumb";
  return {
    cwd: process.cwd(),
    version: limitrVersion(),
    env: process.env,
    isTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    color: new Chalk({ level: useColor ? chalk.level || 1 : 0 }),
    stdout: process.stdout,
    warn: (line) => process.stderr.write(`${line}\n`),
    progress: (options) =>
      startProgress(
        options,
        process.stderr,
        Boolean(process.stderr.isTTY),
        !noColor && process.env.TERM !== "dumb",
      ),
  };
}
