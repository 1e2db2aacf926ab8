import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { displayPath, policyFiles } from "limitr-engine/adapters/policy-source";
import { InputError } from "limitr-engine/core/errors";
import { formatPolicyYaml } from "limitr-engine/core/policy/format";
import { POLICY_SCHEMA } from "limitr-engine/core/policy-types.generated";
import type { CliContext, CommandOutcome } from "../context.js";

/**
 * `limitr fmt [FILES...] [--check]`: rewrite policy files (and the policy
 * tests) in canonical form, comments kept. With --check nothing is written and
 * the exit code says whether anything would change: 0 all formatted, 2 some
 * file would change (SPEC §5: 2 = changes present, asked for by the flag),
 * 3 a file is not valid YAML.
 */
const EXIT_CHANGES = 2;
const EXIT_INVALID = 3;

/** Policy fragments are ordered by the policy schema; test files only get quoting and indentation. */
function targets(options: Record<string, unknown>, ctx: CliContext): { file: string; ordered: boolean }[] {
  const given = ((options.args as unknown[])[0] as string[] | undefined) ?? [];
  if (given.length > 0) {
    return given.map((f) => {
      const file = resolve(ctx.cwd, f);
      if (!existsSync(file)) throw new InputError(`${f}: no such file`);
      return { file, ordered: basename(dirname(file)) !== "tests" };
    });
  }
  const dir = resolve(ctx.cwd, String(options.policies));
  const tests = join(dir, "tests");
  const testFiles = existsSync(tests)
    ? readdirSync(tests)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(tests, f))
    : [];
  return [
    ...policyFiles(dir).map((file) => ({ file, ordered: true })),
    ...testFiles.map((file) => ({ file, ordered: false })),
  ];
}

export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const check = Boolean(options.check);
  const results: { file: string; changed: boolean }[] = [];
  let invalid = 0;
  for (const { file, ordered } of targets(options, ctx)) {
    const shown = displayPath(file, ctx.cwd);
    const before = readFileSync(file, "utf8");
    const formatted = formatPolicyYaml(before, ordered ? POLICY_SCHEMA : null);
    if (formatted.errors.length > 0) {
      invalid++;
      for (const e of formatted.errors)
        ctx.warn(`${shown}:${e.line}:${e.column} error [yaml/syntax] ${e.message}`);
      continue;
    }
    const changed = formatted.text !== before;
    if (changed && !check) writeFileSync(file, formatted.text);
    results.push({ file: shown, changed });
  }
  const changed = results.filter((r) => r.changed);
  const exitCode = invalid > 0 ? EXIT_INVALID : check && changed.length > 0 ? EXIT_CHANGES : 0;
  if (options.format === "json") {
    const json = { formatVersion: 1, check, files: results, changed: changed.length, invalid };
    return { output: JSON.stringify(json, null, 2), exitCode };
  }
  const verb = check ? "would reformat" : "formatted";
  const lines = changed.map((r) => `${verb} ${r.file}`);
  lines.push(
    `${results.length} file${results.length === 1 ? "" : "s"} checked, ${changed.length} ${check ? "not in canonical form" : "reformatted"}` +
      (invalid > 0 ? `, ${invalid} not valid YAML` : ""),
  );
  return { output: lines.join("\n"), exitCode };
}
