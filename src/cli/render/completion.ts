import type { CommandSpec, FlagSpec } from "../registry.js";

/**
 * Shell completion scripts generated from the command registry, so a new
 * command or flag completes without anyone editing a script: bash and zsh
 * share one word-by-word logic (the command words typed so far choose the
 * candidates; after a flag with fixed values, those values), fish declares
 * each candidate with `complete`.
 */
interface Flag {
  long: string;
  takesValue: boolean;
  choices: string[];
  description: string;
}

function flagOf(f: FlagSpec): Flag {
  return {
    long: /--[a-z][a-z-]*/.exec(f.flags)?.[0] ?? f.flags,
    takesValue: /[<[]/.test(f.flags),
    choices: f.choices ?? [],
    description: f.description,
  };
}

interface Node {
  /** Command words: ["usage", "import"]. */
  words: string[];
  description: string;
  flags: Flag[];
  /** Positional arguments are files or directories. */
  files: boolean;
}

const GLOBAL_HELP: Flag = { long: "--help", takesValue: false, choices: [], description: "show help" };

function model(commands: CommandSpec[], globals: FlagSpec[]) {
  const leaves: Node[] = commands.map((c) => ({
    words: c.path,
    description: c.description,
    flags: [...c.flags.map(flagOf), ...globals.map(flagOf), GLOBAL_HELP],
    files: /files|file|dir/.test(c.args ?? ""),
  }));
  /** Words that may follow each command prefix ("" = the top level). */
  const next = new Map<string, Map<string, string>>();
  for (const leaf of leaves) {
    leaf.words.forEach((w, i) => {
      const prefix = leaf.words.slice(0, i).join(" ");
      if (!next.has(prefix)) next.set(prefix, new Map());
      const d = i === leaf.words.length - 1 ? leaf.description : `${w} commands`;
      next.get(prefix)?.set(w, d);
    });
  }
  return { leaves, next };
}

const sh = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The `case` over typed command words shared by bash and zsh; sets `opts`, `values`, `files`. */
function caseBody(commands: CommandSpec[], globals: FlagSpec[]): string[] {
  const { leaves, next } = model(commands, globals);
  const lines = ['  case "$path" in'];
  // Longest paths first: "usage import"* must win over a bare "usage".
  for (const leaf of [...leaves].sort((a, b) => b.words.length - a.words.length)) {
    const valued = leaf.flags.filter((f) => f.takesValue);
    const choices = valued.filter((f) => f.choices.length > 0);
    lines.push(`    ${sh(leaf.words.join(" "))}*)`);
    lines.push(`      opts=${sh(leaf.flags.map((f) => f.long).join(" "))}`);
    lines.push(`      valued=${sh(valued.map((f) => f.long).join(" "))}`);
    if (choices.length > 0) {
      lines.push('      case "$prev" in');
      for (const f of choices) lines.push(`        ${f.long}) values=${sh(f.choices.join(" "))} ;;`);
      lines.push("      esac");
    }
    if (leaf.files) lines.push("      files=1");
    lines.push("      ;;");
  }
  for (const [prefix, words] of [...next].sort((a, b) => b[0].length - a[0].length)) {
    if (leaves.some((l) => l.words.join(" ") === prefix)) continue;
    lines.push(`    ${sh(prefix)})`, `      opts=${sh([...words.keys(), "--help"].join(" "))}`, "      ;;");
  }
  lines.push("  esac");
  return lines;
}

/** Command words typed so far (flags and their values skipped). */
const PATH_LOOP = (words: string, from: number, to: string) => [
  '  local path="" skip=0 w i',
  `  for ((i = ${from}; i < ${to}; i++)); do`,
  `    w="\${${words}[i]}"`,
  "    if [[ $skip == 1 ]]; then skip=0; continue; fi",
  '    case "$w" in',
  "      --*=*) ;;",
  "      --policies|--db) skip=1 ;;",
  '      -*) [[ " $valued_all " == *" $w "* ]] && skip=1 ;;',
  '      *) path="${path:+$path }$w" ;;',
  "    esac",
  "  done",
];

function valuedAll(commands: CommandSpec[]): string {
  const all = new Set<string>();
  for (const c of commands) for (const f of c.flags) if (/[<[]/.test(f.flags)) all.add(flagOf(f).long);
  return sh([...all].sort().join(" "));
}

export function bashCompletion(commands: CommandSpec[], globals: FlagSpec[]): string {
  return [
    "# limitr completion for bash: source it, or save it as",
    "# ~/.local/share/bash-completion/completions/limitr",
    "_limitr() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
    `  local valued_all=${valuedAll(commands)} opts="" valued="" values="" files=0`,
    ...PATH_LOOP("COMP_WORDS", 1, "COMP_CWORD"),
    ...caseBody(commands, globals),
    '  if [[ -n $values ]]; then COMPREPLY=($(compgen -W "$values" -- "$cur")); return; fi',
    '  if [[ " $valued " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi',
    '  if [[ $cur == -* || $files == 0 ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi',
    '  COMPREPLY=($(compgen -f -- "$cur"))',
    "}",
    "complete -o default -F _limitr limitr",
    "",
  ].join("\n");
}

export function zshCompletion(commands: CommandSpec[], globals: FlagSpec[]): string {
  return [
    "#compdef limitr",
    "# limitr completion for zsh: save it as _limitr in a directory on $fpath",
    "_limitr() {",
    '  local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}"',
    `  local valued_all=${valuedAll(commands)} opts="" valued="" values="" files=0`,
    ...PATH_LOOP("words", 2, "CURRENT"),
    ...caseBody(commands, globals),
    "  if [[ -n $values ]]; then compadd -- ${=values}; return; fi",
    '  if [[ " $valued " == *" $prev "* ]]; then _files; return; fi',
    "  if [[ $cur == -* || $files == 0 ]]; then compadd -- ${=opts}; return; fi",
    "  _files",
    "}",
    'if [[ "${funcstack[1]}" == "_limitr" ]]; then _limitr "$@"; else compdef _limitr limitr; fi',
    "",
  ].join("\n");
}

export function fishCompletion(commands: CommandSpec[], globals: FlagSpec[]): string {
  const { leaves, next } = model(commands, globals);
  const q = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  const seen = (words: string[]) =>
    words.length === 0
      ? "__fish_use_subcommand"
      : words.map((w) => `__fish_seen_subcommand_from ${w}`).join("; and ");
  const out = [
    "# limitr completion for fish: save it as ~/.config/fish/completions/limitr.fish",
    "complete -c limitr -f",
  ];
  for (const [prefix, words] of next) {
    const path = prefix === "" ? [] : prefix.split(" ");
    const others = [...words.keys()].join(" ");
    const cond =
      path.length === 0 ? seen([]) : `${seen(path)}; and not __fish_seen_subcommand_from ${others}`;
    for (const [w, d] of words) out.push(`complete -c limitr -n ${q(cond)} -a ${w} -d ${q(d)}`);
  }
  for (const leaf of leaves) {
    const cond = q(seen(leaf.words));
    if (leaf.files) out.push(`complete -c limitr -n ${cond} -F`);
    for (const f of leaf.flags) {
      const value = f.choices.length > 0 ? ` -x -a ${q(f.choices.join(" "))}` : f.takesValue ? " -r" : "";
      out.push(`complete -c limitr -n ${cond} -l ${f.long.slice(2)}${value} -d ${q(f.description)}`);
    }
  }
  return `${out.join("\n")}\n`;
}
