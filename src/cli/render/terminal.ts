import { stripVTControlCharacters } from "node:util";
import type { CliContext, CommandOutcome } from "../context.js";

/**
 * The one place a command's result reaches the terminal. Off a TTY (pipes,
 * CI, tests) the plain `output` is written byte for byte; on a TTY a command
 * that describes its result as a `View` is drawn with ink (tables with
 * borders, bold totals), loaded only then so plain runs never pay for it.
 * Diagnostics go through `ctx.warn` and progress through `ctx.progress`.
 */
export async function emit(
  outcome: CommandOutcome,
  ctx: Pick<CliContext, "isTTY" | "color" | "stdout">,
): Promise<void> {
  const stdout = ctx.stdout;
  let text = outcome.output;
  if (outcome.view && ctx.isTTY) {
    const { viewToString } = await import("./ink/static.js");
    text = viewToString(outcome.view, stdout.columns || 100);
    // NO_COLOR (or TERM=dumb) keeps the borders and drops the colours.
    if (ctx.color.level === 0) text = stripVTControlCharacters(text);
  }
  if (text) stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}
