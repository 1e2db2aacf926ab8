import { UsageError } from "limitr-engine/core/errors";
import type { CliContext, CommandOutcome } from "../context.js";
import { COMMANDS, GLOBAL_FLAGS } from "../registry.js";
import { bashCompletion, fishCompletion, zshCompletion } from "../render/completion.js";

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };

/** `limitr completion bash|zsh|fish`: the script on stdout, generated from the registry. */
export async function run(options: Record<string, unknown>, _ctx: CliContext): Promise<CommandOutcome> {
  const shell = String((options.args as unknown[])[0]);
  const generate = SHELLS[shell as keyof typeof SHELLS];
  if (!generate) throw new UsageError(`unknown shell "${shell}" (expected bash, zsh or fish)`);
  return { output: generate(COMMANDS, GLOBAL_FLAGS), exitCode: 0 };
}
