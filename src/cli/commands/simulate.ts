import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { CheckFailedError, InputError, UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { SimulationSide } from "limitr-engine/core/simulate/compare";
import { compileGuardrail, guardrailVariables } from "limitr-engine/core/simulate/guardrail";
import type { SimulationReport } from "limitr-engine/core/simulate/types";
import {
  type LoadedPolicy,
  loadPolicyAt,
  loadPushedPolicy,
  policyDigestOf,
} from "../adapters/git/load-at-ref.js";
import { findPolicyRepo, type PolicyRepo } from "../adapters/git/policy-repo.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { simulationHtml } from "../render/simulate-html.js";
import { type GuardrailOutcome, simulationJson } from "../render/simulate-json.js";
import { simulationMarkdown } from "../render/simulate-markdown.js";
import { simulationText } from "../render/simulate-text.js";
import { simulatePolicies } from "../services/simulate/compare-policies.js";
import { periodOption } from "./usage-common.js";

interface SimulateOptions {
  policies: string;
  db: string;
  base?: string;
  head?: string;
  env?: string;
  format?: string;
  failOn?: string;
  out?: string;
  fullReplay?: boolean;
}

/**
 * The base side: `--base REF`, else the environment's current bundle (what
 * runs in production), else `HEAD` when nothing was pushed yet.
 */
async function loadBase(
  repo: PolicyRepo | null,
  options: SimulateOptions,
  config: CompiledPolicy["bundles"],
  ctx: CliContext,
): Promise<LoadedPolicy & { policy: CompiledPolicy }> {
  if (options.base === undefined) {
    const pushed = await loadPushedPolicy(repo, config, ctx.cwd, options.env);
    if (pushed?.policy) return { ...pushed, policy: pushed.policy };
    ctx.warn("note: no pushed bundle found; comparing with HEAD (pass --base REF to choose)");
  }
  const loaded = await loadPolicyAt(repo, options.base ?? "HEAD", ctx.cwd, options.policies);
  if (!loaded.policy)
    throw new InputError(
      "the repository has no commits and nothing was pushed: there is no base to compare with (pass --base REF)",
    );
  return { ...loaded, policy: loaded.policy };
}

/**
 * `limitr simulate [--base REF] [--head REF] --period P`: re-rate the
 * period's recorded usage under both policies exactly as `bill` does, and
 * replay its events through an engine under each to count denials. Reads
 * the store only (read-only connection; credits are never recorded).
 */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as SimulateOptions;
  // A bad guardrail must fail before minutes of work, not after.
  const guardrail = options.failOn === undefined ? null : compileGuardrail(options.failOn);
  const repo = await findPolicyRepo(ctx.cwd, options.policies);
  const head = await loadPolicyAt(repo, options.head, ctx.cwd, options.policies);
  if (!head.policy)
    throw new InputError("HEAD has no commits yet: simulate the work tree instead (omit --head)");
  const base = await loadBase(repo, options, head.policy.bundles, ctx);
  const period = periodOption(raw, head.policy.timezone, true);
  if (!period) throw new UsageError("--period P (or --from/--to) is required");
  if (base.policy.timezone !== head.policy.timezone)
    ctx.warn(
      `note: the timezone changes (${base.policy.timezone} -> ${head.policy.timezone}); the period is read in the head's`,
    );

  const db = await openUsageStore(options.db, { readonly: true, cwd: ctx.cwd });
  let report: SimulationReport;
  try {
    const started = performance.now();
    const bar = ctx.progress({ label: "replaying", unit: "events" });
    const progress = ctx.stderrIsTTY
      ? (done: number, total: number) => bar.update(done, done, total)
      : undefined;
    const under = (loaded: LoadedPolicy, policy: CompiledPolicy) => ({
      info: { ref: loaded.side.ref, commit: loaded.side.commit, digest: policyDigestOf(policy) },
      policy,
    });
    let sides: [SimulationSide, SimulationSide];
    try {
      ({ report, sides } = await simulatePolicies(
        db,
        under(base, base.policy),
        under(head, head.policy),
        period,
        { onProgress: progress, fullReplay: Boolean(options.fullReplay) },
      ));
    } finally {
      await bar.finish();
    }
    for (const [name, s] of [
      ["base", sides[0]],
      ["head", sides[1]],
    ] as const) {
      for (const u of s.replay.unknownPlans.slice(0, 5))
        ctx.warn(
          `note: ${name} has no plan for the stored subscription ${u}; the replay keeps the customer's previous plan`,
        );
    }
    if (ctx.stderrIsTTY)
      ctx.warn(
        `simulated ${sides[0].replay.events ?? 0} events in ${((performance.now() - started) / 1000).toFixed(1)}s`,
      );
  } finally {
    await db.close();
  }

  let outcome: GuardrailOutcome | null = null;
  let exitCode = 0;
  if (guardrail) {
    // Each currency is checked on its own totals (amounts of different currencies are never summed).
    const results = Object.entries(report.totalsByCurrency)
      .filter(([code, t]) => code === report.currency || t.customers > 0)
      .map(([code, t]) => [code, guardrail.evaluate(guardrailVariables(t))] as const);
    const tripped = results.filter(([, r]) => r.tripped);
    outcome = {
      expression: guardrail.expression,
      tripped: tripped.length > 0,
      conditions: tripped.flatMap(([code, r]) =>
        code === report.currency ? r.conditions : r.conditions.map((c) => `${c} (${code})`),
      ),
    };
    if (outcome.tripped) {
      const err = new CheckFailedError(`guardrail tripped: ${outcome.conditions.join(" || ")}`);
      ctx.warn(`error: ${err.message}`);
      exitCode = err.exitCode;
    }
  }
  const format = options.format ?? "text";
  const output =
    format === "json"
      ? `${JSON.stringify(simulationJson(report, outcome), null, 2)}\n`
      : format === "markdown"
        ? simulationMarkdown(report, outcome)
        : format === "html"
          ? simulationHtml(report, outcome)
          : simulationText(report, outcome, ctx.color);
  if (options.out) {
    const file = resolve(ctx.cwd, options.out);
    writeFileSync(file, output);
    ctx.warn(`wrote ${file}`);
    return { output: "", exitCode };
  }
  return { output, exitCode };
}
