import { validatePolicyDir } from "limitr-engine/adapters/policy-source";
import {
  type Diagnostic,
  formatDiagnostic,
  formatSummary,
  summarize,
} from "limitr-engine/core/policy/diagnostics";
import { summarizeResults } from "limitr-engine/core/policy-tests/model";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderJson, renderJunit, renderText, type TestReport, testView } from "../render/policy-tests.js";
import { loadTests, runCases } from "../services/policy-tests/run-tests.js";

/**
 * `limitr test`: run `<policies>/tests/*.yaml`. Exit 0 when every case
 * passes, 4 when one fails, 3 when the policy or a test file is invalid
 * (nothing runs then: a half-read suite would pass for the wrong reason).
 */
export interface TestOptions {
  policies: string;
  format?: "text" | "json" | "junit";
  filter?: string;
}

const EXIT_INVALID = 3;
const EXIT_FAILED = 4;

export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const opts = options as unknown as TestOptions;
  const format = opts.format ?? "text";
  const validated = validatePolicyDir(opts.policies, ctx.cwd);
  const loaded = loadTests(opts.policies, ctx.cwd);
  const policy = validated.policy;
  const testFiles = loaded.files.length;
  if (!policy) {
    const files = validated.stats.files;
    return invalid(
      { diagnostics: validated.diagnostics, files, testFiles, what: "the policy is invalid" },
      format,
      ctx,
    );
  }
  if (loaded.diagnostics.some((d) => d.severity === "error")) {
    const what = "a test file is invalid";
    return invalid({ diagnostics: loaded.diagnostics, files: testFiles, testFiles, what }, format, ctx);
  }
  for (const d of loaded.diagnostics) ctx.warn(formatDiagnostic(d));
  const filter = opts.filter;
  const cases = filter ? loaded.cases.filter((c) => c.name.includes(filter)) : loaded.cases;
  if (filter && cases.length === 0) ctx.warn(`no test name contains "${filter}"`);
  const results = await runCases(policy, cases);
  const report: TestReport = {
    results,
    diagnostics: loaded.diagnostics,
    summary: summarizeResults(results, loaded.files.length),
  };
  const exitCode = report.summary.failed > 0 ? EXIT_FAILED : 0;
  switch (format) {
    case "json":
      return { exitCode, output: renderJson(report) };
    case "junit":
      return { exitCode, output: renderJunit(report) };
    default:
      return {
        exitCode,
        output: renderText(report, { ok: ctx.color.green, fail: ctx.color.red.bold, dim: ctx.color.dim }),
        view: testView(report),
      };
  }
}

interface Problems {
  diagnostics: Diagnostic[];
  /** Files the diagnostics were found in (policy or test files). */
  files: number;
  testFiles: number;
  what: string;
}

/** Exit 3 with the located problems, in the requested format; no case has run. */
function invalid(problems: Problems, format: string, ctx: CliContext): CommandOutcome {
  const { diagnostics, files, testFiles, what } = problems;
  const report: TestReport = { results: [], diagnostics, summary: summarizeResults([], testFiles) };
  if (format === "json") return { exitCode: EXIT_INVALID, output: renderJson(report) };
  const paint = { error: ctx.color.red.bold, warning: ctx.color.yellow.bold, dim: ctx.color.dim };
  const lines = diagnostics.map((d) => formatDiagnostic(d, paint));
  lines.push(`${formatSummary(summarize(diagnostics, files))}; ${what}, no tests were run`);
  if (format === "junit") {
    // CI keeps the XML report (each broken file is an <error> there); people read stderr.
    for (const line of lines) ctx.warn(line);
    return { exitCode: EXIT_INVALID, output: renderJunit(report) };
  }
  return { exitCode: EXIT_INVALID, output: lines.join("\n") };
}
