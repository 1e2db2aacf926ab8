import { dayStarts, quantityOf } from "limitr-engine/adapters/store/bill-usage";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledMeter, CompiledPolicy } from "limitr-engine/core/model";
import { type Decimal, decStr, ZERO } from "limitr-engine/core/money";
import { isoDate, LIFETIME } from "limitr-engine/core/periods";
import type { AggregateRow } from "limitr-engine/core/usage/store-port";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain, type View } from "../render/view.js";
import { loadPolicy, periodOption } from "./usage-common.js";

/**
 * `usage query`: each meter's aggregation (sum, count, max, unique_count,
 * latest) with its `where` filter, over a period, grouped by customer
 * (default), meter, day or any event property.
 */
export interface UsageQueryResult {
  groupBy: string;
  /** The period's label, null for all time. */
  period: string | null;
  rows: Record<string, string | number>[];
}

interface Acc {
  meter: string;
  key: string;
  value: Decimal;
  events: number;
  t: number;
  values: Set<string> | null;
}

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
  const zone = policy.timezone;
  const period = periodOption(options, zone, false);
  const window = period ?? LIFETIME;
  const groupBy = String(options.groupBy ?? "customer");
  const meterId = options.meter as string | undefined;
  const customer = options.customer as string | undefined;
  if (meterId && !policy.meters[meterId]) {
    throw new UsageError(`unknown meter "${meterId}" (meters: ${Object.keys(policy.meters).join(", ")})`);
  }
  if (groupBy === "day" && !period) throw new UsageError("--group-by day needs --period (or --from/--to)");
  const meters = meterId ? [policy.meters[meterId] as CompiledMeter] : Object.values(policy.meters);
  const days = groupBy === "day" && period ? dayStarts(period, zone) : undefined;
  const dimension = groupBy === "customer" || groupBy === "meter" || groupBy === "day" ? null : groupBy;

  const db = await openUsageStore(location, { cwd });
  const accs = new Map<string, Acc>();
  try {
    for (const meter of meters) {
      const unique = meter.aggregation === "unique_count";
      const rows = await db.aggregateMeter({
        meter,
        window,
        buckets: days,
        dimension,
        customers: customer ? [customer] : undefined,
        distinctValues: unique && groupBy !== "customer",
      });
      for (const r of rows) {
        const key = keyOf(groupBy, r, days, zone);
        const id = `${meter.id}\u0000${key}`;
        let acc = accs.get(id);
        if (!acc)
          accs.set(id, (acc = { meter: meter.id, key, value: ZERO, events: 0, t: -Infinity, values: null }));
        fold(meter, acc, r, unique && groupBy !== "customer");
      }
    }
  } finally {
    await db.close();
  }
  const results: Record<string, string | number>[] = [...accs.values()]
    .sort((a, b) => a.meter.localeCompare(b.meter) || a.key.localeCompare(b.key))
    .map((a) => ({
      meter: a.meter,
      ...(groupBy === "meter" ? {} : { [groupBy]: a.key }),
      value: decStr(a.values ? a.values.size : a.value),
      events: a.events,
    }));
  return { groupBy, period: period?.label ?? null, rows: results };
}

function keyOf(groupBy: string, r: AggregateRow, days: number[] | undefined, zone: string): string {
  if (groupBy === "customer") return r.customer;
  if (groupBy === "meter") return "";
  if (groupBy === "day") return isoDate(days?.[r.bucket] ?? 0, zone);
  return r.dim === null ? "(none)" : String(r.dim);
}

function fold(meter: CompiledMeter, acc: Acc, r: AggregateRow, distinct: boolean): void {
  acc.events += r.n;
  if (distinct) {
    acc.values ??= new Set();
    if (r.dim !== null) acc.values.add(String(r.dim));
    return;
  }
  const q = quantityOf(r.q);
  if (meter.aggregation === "sum" || meter.aggregation === "count" || meter.aggregation === "unique_count") {
    acc.value = acc.value.plus(q);
  } else if (meter.aggregation === "max") {
    if (acc.t === -Infinity || q.gt(acc.value)) acc.value = q;
  } else if (r.t >= acc.t) acc.value = q;
  if (r.t > acc.t) acc.t = r.t;
}

function csv(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}
