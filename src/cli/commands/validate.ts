import { validatePolicyDirCached } from "limitr-engine/adapters/policy-cache";
import {
  type Diagnostic,
  formatDiagnostic,
  formatGithub,
  formatSummary,
  type Paint,
  summarize,
} from "limitr-engine/core/policy/diagnostics";
import { formatSarif } from "limitr-engine/core/policy/sarif";
import type { PolicyStats } from "limitr-engine/core/policy/validate";
import type { CliContext, CommandOutcome } from "../context.js";

/** `limitr validate`: YAML, schema and semantic rules; exit 0 valid, 3 invalid (or warnings with --strict). */
export interface ValidateOptions {
  policies: string;
  strict?: boolean;
  format?: "text" | "json" | "github" | "sarif";
}

const EXIT_INVALID = 3;

export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const opts = options as unknown as ValidateOptions;
  const { diagnostics, stats } = await validatePolicyDirCached(opts.policies, ctx.cwd, ctx.env);
  const summary = summarize(diagnostics, stats.files);
  const failed = summary.errors > 0 || (opts.strict === true && summary.warnings > 0);
  const exitCode = failed ? EXIT_INVALID : 0;
  switch (opts.format ?? "text") {
    case "json":
      return {
        exitCode,
        output: JSON.stringify({ formatVersion: 1, valid: !failed, diagnostics, summary, stats }, null, 2),
      };
    case "github":
      return { exitCode, output: diagnostics.map(formatGithub).join("\n") };
    case "sarif":
      return { exitCode, output: formatSarif(diagnostics, ctx.version) };
    default:
      return { exitCode, output: renderText(opts.policies, diagnostics, stats, ctx) };
  }
}

function renderText(dir: string, diagnostics: Diagnostic[], stats: PolicyStats, ctx: CliContext): string {
  const paint: Paint = { error: ctx.color.red.bold, warning: ctx.color.yellow.bold, dim: ctx.color.dim };
  const lines = diagnostics.map((d) => formatDiagnostic(d, paint));
  const summary = summarize(diagnostics, stats.files);
  if (summary.errors === 0) {
    const counts = [
      plural(stats.files, "file"),
      plural(stats.meters, "meter"),
      plural(stats.plans, "plan"),
      plural(stats.customers, "customer"),
      plural(stats.alerts, "alert"),
    ].join(", ");
    const name = dir.endsWith("/") ? dir : `${dir}/`;
    const head = `${name.replace(/^\.\//, "")} is valid (${counts})`;
    lines.push(summary.warnings > 0 ? `${head}; ${formatSummary(summary)}` : ctx.color.green(head));
  } else lines.push(formatSummary(summary));
  return lines.join("\n");
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
