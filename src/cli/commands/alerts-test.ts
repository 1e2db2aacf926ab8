import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { type Evaluation, evaluateCustomer } from "limitr-engine/core/alerts/evaluate";
import { compileRules } from "limitr-engine/core/alerts/rules";
import { UsageError } from "limitr-engine/core/errors";
import { calendarWindow, type NamedPeriod } from "limitr-engine/core/periods";
import { closest } from "limitr-engine/core/policy/suggest";
import { gatherFigures } from "../adapters/alerts/figures.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { asOfOption } from "./alerts.js";
import { formatTable, loadPolicy, periodOption } from "./usage-common.js";

/**
 * `limitr alerts test RULE --customer ID`: the variables a rule sees for one
 * customer and whether it would fire, for writing rules. Reads only.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const [ruleId] = options.args as string[];
  if (options.customer === undefined) throw new UsageError("--customer ID is required");
  const customer = String(options.customer);
  const alert = ruleId ? policy.alerts[ruleId] : undefined;
  if (!ruleId || !alert) {
    const hint = ruleId ? closest(ruleId, Object.keys(policy.alerts)) : null;
    throw new UsageError(`unknown alert rule ${ruleId ?? ""}${hint ? ` (did you mean ${hint}?)` : ""}`);
  }
  const rule = compileRules(policy).find((r) => r.alert.id === ruleId);
  if (!rule) throw new UsageError(`alert rule ${ruleId} does not compile; run limitr validate`);
  const now = asOfOption(options, policy.timezone);
  const period: NamedPeriod = periodOption(options, policy.timezone, false) ?? {
    ...calendarWindow("month", now, policy.timezone),
    label: "current month",
  };
  const asOf = Math.min(now, period.end - 1);
  const db = await openUsageStore(String(options.db), { readonly: true, cwd: ctx.cwd });
  let evaluations: Evaluation[];
  try {
    const figures = (await gatherFigures(db, policy, period, asOf)).find((f) => f.customer === customer);
    if (!figures) throw new UsageError(`${customer} has no plan, subscription or usage in ${period.label}`);
    evaluations = evaluateCustomer([rule], figures, period, asOf);
  } finally {
    await db.close();
  }
  if (options.format === "json") {
    return {
      exitCode: 0,
      output: JSON.stringify(
        {
          formatVersion: 1,
          alert: ruleId,
          when: alert.when,
          customer,
          evaluations: evaluations.map((e) => ({
            entitlement: e.entitlement || null,
            fires: e.holds,
            variables: e.vars,
          })),
        },
        null,
        2,
      ),
    };
  }
  const lines = [`${ruleId}: ${alert.when}`];
  if (evaluations.length === 0)
    lines.push(`does not apply to ${customer} (scope: plans, customers or entitlement)`);
  for (const e of evaluations) {
    lines.push(
      "",
      `${customer}${e.entitlement ? ` / ${e.entitlement}` : ""}: ${e.holds ? "FIRES" : "does not fire"}`,
    );
    const rows = Object.entries(e.vars).map(([k, v]) => [
      `  ${k}`,
      typeof v === "object" && v !== null ? JSON.stringify(v) : String(v),
    ]);
    lines.push(formatTable(rows));
  }
  return { exitCode: 0, output: lines.join("\n") };
}
