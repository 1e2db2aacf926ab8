import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { aggregateUsage, type UsageQueryResult } from "limitr-engine/adapters/store/usage-query";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain, type View } from "../render/view.js";
import { loadPolicy, periodOption } from "./usage-common.js";

/**
 * `usage query`: each meter's aggregation (sum, count, max, unique_count,
 * latest) with its `where` filter, over a period, grouped by customer
 * (default), meter, day or any event property.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const {
    groupBy,
    period,
    rows: results,
  } = await queryUsage(loadPolicy(options, ctx), String(options.db), options, ctx.cwd);
  const format = String(options.format ?? "table");
  if (format === "json") {
    return {
      output: JSON.stringify({ formatVersion: 1, groupBy, period, rows: results }),
      exitCode: 0,
    };
  }
  const header = groupBy === "meter" ? ["meter", "value", "events"] : ["meter", groupBy, "value", "events"];
  const cells = results.map((r) => header.map((h) => String((r as Record<string, unknown>)[h] ?? "")));
  if (format === "csv")
    return { output: [header, ...cells].map((r) => r.map(csv).join(",")).join("\n"), exitCode: 0 };
  const view: View = [
    {
      kind: "table",
      columns: header.map((h, i) => ({
        header: h.toUpperCase(),
        ...(i >= header.length - 2 ? { align: "right" as const } : {}),
      })),
      rows: cells,
    },
  ];
  return { output: renderPlain(view), view, exitCode: 0 };
}

/** The rows `usage query` prints, from the store at `location` under `policy` (also served by `limitr serve`). */
export async function queryUsage(
  policy: CompiledPolicy,
  location: string,
  options: Record<string, unknown>,
  cwd = ".",
): Promise<UsageQueryResult> {
  const period = periodOption(options, policy.timezone, false);
  const groupBy = String(options.groupBy ?? "customer");
  if (groupBy === "day" && !period) throw new UsageError("--group-by day needs --period (or --from/--to)");
  const store = await openUsageStore(location, { cwd });
  try {
    return await aggregateUsage(policy, store, {
      meter: options.meter as string | undefined,
      customer: options.customer as string | undefined,
      period,
      groupBy,
    });
  } finally {
    await store.close();
  }
}

function csv(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}
