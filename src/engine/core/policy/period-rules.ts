import { DAY_MS, MINUTE_MS, parseDuration } from "../periods/duration.js";
import type { Diagnostic } from "./diagnostics.js";
import { entriesOf, isMap, mapOf, problem, type Rule, sectionEntries, str } from "./rule-context.js";

/** Sliding windows span one minute to 31 days: shorter is a rate (`rate:`), longer would need more than bounded memory. */
const SLIDING_MIN = MINUTE_MS;
const SLIDING_MAX = 31 * DAY_MS;

/** `period: { every }` and `{ sliding }` are ISO 8601 durations of a length the engine can keep. */
export const periodDurations: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [planId, plan] of sectionEntries(ctx, "plans")) {
    for (const [id, ent] of entriesOf(mapOf(plan).entitlements)) {
      const period = isMap(ent) ? ent.period : undefined;
      if (!isMap(period)) continue;
      const at = ["plans", planId, "entitlements", id, "period"];
      const field = "every" in period ? "every" : "sliding" in period ? "sliding" : null;
      if (field === null) continue;
      const text = period[field];
      const name = `plans.${planId}.entitlements.${id}.period.${field}`;
      const r = parseDuration(text);
      if ("problem" in r) {
        out.push(
          problem(ctx, [...at, field], {
            code: "period/duration",
            message: `${name} ${JSON.stringify(text)} ${r.problem}`,
            hint: "write an ISO 8601 duration: P30D (30 days), P1W (a week), PT6H (6 hours), PT30M",
          }),
        );
        continue;
      }
      if (field === "sliding" && (r.ms < SLIDING_MIN || r.ms > SLIDING_MAX)) {
        out.push(
          problem(ctx, [...at, field], {
            code: "period/sliding-length",
            message: `${name} ${JSON.stringify(text)} is ${r.ms < SLIDING_MIN ? "shorter than one minute" : "longer than 31 days"}`,
            hint:
              r.ms < SLIDING_MIN
                ? "use `rate: { capacity, per_second }` for bursts shorter than a minute"
                : "use an interval (`every: P90D`) or a calendar period for longer spans",
          }),
        );
      }
    }
  }
  return out;
};

/** `unit_time` says how `time_weighted` integrates readings; on any other aggregation it means nothing. */
export const unitTimeNeedsTimeWeighted: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [id, meter] of entriesOf(ctx.raw.meters)) {
    if (!isMap(meter) || !("unit_time" in meter)) continue;
    const aggregation = str(meter.aggregation) ?? "sum";
    if (aggregation === "time_weighted") continue;
    out.push(
      problem(ctx, ["meters", id, "unit_time"], {
        code: "meter/unit-time",
        message: `meters.${id} has unit_time but aggregates with ${aggregation}`,
        hint: "unit_time applies to `aggregation: time_weighted` only: remove it or change the aggregation",
        atKey: true,
      }),
    );
  }
  return out;
};

export const periodRules: Rule[] = [periodDurations, unitTimeNeedsTimeWeighted];
