import type { CliContext, CommandOutcome } from "./context.js";

/**
 * Every command and flag of the CLI, in one place. Each command's code lives
 * in `commands/<name>.ts` and is imported only when that command runs.
 */
export interface FlagSpec {
  /** commander flag syntax: "--period <P>", "--strict", "-f, --format <F>". */
  flags: string;
  description: string;
  default?: string | boolean;
  /** Allowed values, checked before the command runs (bad value = exit 64). */
  choices?: string[];
  /** May be given several times (collected into an array). */
  repeatable?: boolean;
}

export interface CommandSpec {
  /** Words of the command: ["usage", "import"]. */
  path: string[];
  /** commander argument syntax: "[dir]", "<files...>". */
  args?: string;
  description: string;
  flags: FlagSpec[];
  /** Command function: receives parsed flags (camelCased) plus `args`. */
  load: () => Promise<{ run: (options: Record<string, unknown>, ctx: CliContext) => Promise<CommandOutcome> }>;
}

const format = (values: string[], dflt = "text"): FlagSpec => ({
  flags: "--format <format>",
  description: `output format (${values.join(", ")})`,
  default: dflt,
  choices: values,
});

export const COMMANDS: CommandSpec[] = [
  {
    path: ["init"],
    args: "[dir]",
    description: "scaffold a policy repo (example policies, tests and a CI workflow)",
    flags: [{ flags: "--force", description: "write into a non-empty directory" }],
    load: () => import("./commands/init.js"),
  },
  {
    path: ["validate"],
    description: "check the policy: YAML, schema and semantic rules",
    flags: [
      { flags: "--strict", description: "treat warnings as errors" },
      format(["text", "json", "github"]),
    ],
    load: () => import("./commands/validate.js"),
  },
];
