import { Command, CommanderError, Option } from "commander";
import { limitrVersion } from "limitr-engine/adapters/version";
import { InternalError, LimitrError } from "limitr-engine/core/errors";
import type { CliContext } from "./context.js";
import { COMMANDS, type CommandSpec, GLOBAL_FLAGS } from "./registry.js";
import { emit } from "./render/terminal.js";

const EXIT_USAGE = 64;

function build(
  ctx: CliContext,
  onRun: (spec: CommandSpec, options: Record<string, unknown>) => Promise<void>,
): Command {
  const program = new Command("limitr")
    .description(
      "usage-based pricing control plane: validate, diff, simulate, push and bill policies as code",
    )
    .version(limitrVersion(), "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // Help, version and usage errors go where the context says, like every other output.
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.warn(s.replace(/\n$/, "")),
    });

  for (const f of GLOBAL_FLAGS) program.option(f.flags, f.description, f.default as string);
  const groups = new Map<string, Command>();
  for (const spec of COMMANDS) {
    let parent = program;
    for (const word of spec.path.slice(0, -1)) {
      const key = `${parent.name()} ${word}`;
      let group = groups.get(key);
      if (!group) {
        group = parent.command(word).description(`${word} commands`).exitOverride();
        groups.set(key, group);
      }
      parent = group;
    }
    const name = spec.path[spec.path.length - 1] as string;
    const cmd = parent.command(spec.args ? `${name} ${spec.args}` : name).description(spec.description);
    cmd.exitOverride();
    cmd.addHelpText("after", helpFooter(spec));
    for (const f of spec.flags) {
      const opt = new Option(f.flags, f.description);
      if (f.choices) opt.choices(f.choices);
      if (f.default !== undefined) opt.default(f.default);
      if (f.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      cmd.addOption(opt);
    }
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      const args = params.slice(0, -2);
      const all = command.optsWithGlobals();
      // Flags typed on the command line, as opposed to defaults (a default `--policies` is not a choice).
      const given = Object.keys(all).filter((k) => command.getOptionValueSourceWithGlobals(k) === "cli");
      const options = { ...all, args, given };
      await onRun(spec, options);
    });
  }
  return program;
}

/** Under every subcommand's --help: the global flags, an example and the guide. */
function helpFooter(spec: CommandSpec): string {
  const width = Math.max(...GLOBAL_FLAGS.map((f) => f.flags.length));
  const globals = GLOBAL_FLAGS.map(
    (f) => `  ${f.flags.padEnd(width)}  ${f.description} (default: ${String(f.default)})`,
  );
  return [
    "",
    "Global options:",
    ...globals,
    "",
    "Example:",
    `  $ ${spec.example}`,
    "",
    `Docs: docs/${spec.docs}${spec.docs === "cli.md" ? "" : " (every flag: docs/cli.md)"}`,
  ].join("\n");
}

/**
 * Run one command line (the words after `limitr`) against a context and
 * return its exit code. Touches no process state (cwd, env, exit code,
 * streams) beyond what `ctx` gives it, so the binary and an in-process
 * caller see the same behaviour.
 */
export async function runCli(args: string[], ctx: CliContext): Promise<number> {
  let exitCode = 0;
  const program = build(ctx, async (spec, options) => {
    const mod = await spec.load();
    const outcome = await mod.run(options, ctx);
    await emit(outcome, ctx);
    exitCode = outcome.error !== undefined ? report(outcome.error, ctx) : outcome.exitCode;
  });
  try {
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (err) {
    return report(err, ctx);
  }
}

/** The one place errors become exit codes (SPEC §5). */
export function report(err: unknown, ctx: Pick<CliContext, "warn" | "env">): number {
  const warn = ctx.warn;
  if (err instanceof CommanderError) {
    if (
      err.code === "commander.helpDisplayed" ||
      err.code === "commander.version" ||
      err.code === "commander.help"
    )
      return 0;
    if (err.exitCode === 0) return 0;
    return EXIT_USAGE;
  }
  if (err instanceof InternalError) {
    warn(`internal error: ${err.message}`);
    warn("this is a bug in limitr; please report it with the command you ran");
    return err.exitCode;
  }
  if (err instanceof LimitrError) {
    warn(`error: ${err.message}`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") {
    // System errors (ENOENT, EACCES, ECONNREFUSED...) are runtime errors the user can act on.
    warn(`error: ${e.message}`);
    return 1;
  }
  const detail = e instanceof Error ? (ctx.env.LIMITR_DEBUG ? (e.stack ?? e.message) : e.message) : String(e);
  warn(`internal error: ${detail}`);
  warn("this is a bug in limitr; please report it with the command you ran");
  return 1;
}
