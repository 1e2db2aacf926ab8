import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { runBill } from "limitr-engine/adapters/store/bill-run";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { CheckFailedError, InputError, UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { Bill } from "limitr-engine/core/rating/bill";
import { compareSimulation, type SimulationSide } from "limitr-engine/core/simulate/compare";
import { compileGuardrail, guardrailVariables } from "limitr-engine/core/simulate/guardrail";
import type { ReplayOutcome } from "limitr-engine/core/simulate/types";
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
import { replayInWorker } from "../services/simulate/replay.js";
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
  let sides: [SimulationSide, SimulationSide];
  try {
    const started = performance.now();
    const bar = ctx.progress({ label: "replaying", unit: "events" });
    const progress = ctx.stderrIsTTY
      ? (done: number, total: number) => bar.update(done, done, total)
      : undefined;
    // The replay runs on a worker thread while the two bills are rated here (one after the other:
    // a large bill already spreads its scan over the cores).
    const replaying = replayInWorker(db, [base.policy, head.policy], period, { onProgress: progress });
    replaying.catch(() => {}); // awaited below; a failure must not surface as unhandled meanwhile
    let bills: Bill[];
    let replays: ReplayOutcome[];
    try {
      bills = [
        await runBill(db, base.policy, period, { recordCredits: false }),
        await runBill(db, head.policy, period, { recordCredits: false }),
      ];
      replays = await replaying;
    } finally {
      await bar.finish();
    }
    const side = (loaded: LoadedPolicy, policy: CompiledPolicy, i: 0 | 1): SimulationSide => ({
      info: { ref: loaded.side.ref, commit: loaded.side.commit, digest: policyDigestOf(policy) },
      policy,
      bill: bills[i] as Bill,
      replay: replays[i] as ReplayOutcome,
    });
    sides = [side(base, base.policy, 0), side(head, head.policy, 1)];
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
        `simulated ${replays[0]?.events ?? 0} events in ${((performance.now() - started) / 1000).toFixed(1)}s`,
      );
  } finally {
    await db.close();
  }
  const report = compareSimulation(sides[0], sides[1], period);

  let outcome: GuardrailOutcome | null = null;
  let exitCode = 0;
  if (guardrail) {
    outcome = { expression: guardrail.expression, ...guardrail.evaluate(guardrailVariables(report.totals)) };
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
