import type { Diagnostic } from "./diagnostics.js";
import {
  entriesOf,
  has,
  idsOf,
  isMap,
  listNames,
  listOf,
  mapOf,
  type Path,
  problem,
  type Rule,
  type RuleContext,
  sectionEntries,
  str,
} from "./rule-context.js";
import { didYouMean } from "./suggest.js";

/**
 * Semantic rules of `credit_units:` and `caps:` (SPEC §12): what the schema
 * cannot say about references, `per`, dimensions and cycles.
 */

const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

function positive(v: unknown): boolean {
  if (typeof v === "number") return Number.isFinite(v) && v > 0;
  return typeof v === "string" && DECIMAL.test(v) && !/^-|^0(\.0+)?$/.test(v);
}

/** Each rate names a meter (summed or counted) or another credit unit, and says how it rates. */
export const creditRatesValid: Rule = (ctx) => {
  const meters = mapOf(ctx.raw.meters);
  const units = idsOf(ctx, "credit_units");
  const known = new Set([...Object.keys(meters), ...units]);
  const out: Diagnostic[] = [];
  for (const [unitId, unit] of entriesOf(ctx.raw.credit_units)) {
    if (Object.hasOwn(meters, unitId)) {
      out.push(
        problem(ctx, ["credit_units", unitId], {
          code: "credit-unit/named-like-meter",
          message: `credit_units.${unitId} has the name of a meter`,
          hint: "an entitlement's meter must name one or the other: rename the credit unit",
          atKey: true,
        }),
      );
    }
    for (const [key, rate] of entriesOf(mapOf(unit).rates)) {
      const at: Path = ["credit_units", unitId, "rates", key];
      const where = `credit_units.${unitId}.rates.${key}`;
      if (!known.has(key)) {
        out.push(
          problem(ctx, at, {
            code: "credit-unit/unknown-meter",
            message: `${where} rates "${key}", which is neither a meter nor a credit unit`,
            hint: didYouMean(key, known) ?? `known meters: ${listNames(Object.keys(meters))}`,
            atKey: true,
          }),
        );
        continue;
      }
      const meter = Object.hasOwn(meters, key) ? mapOf(meters[key]) : null;
      const aggregation = meter === null ? null : (str(meter.aggregation) ?? "sum");
      if (aggregation !== null && aggregation !== "sum" && aggregation !== "count") {
        out.push(
          problem(ctx, at, {
            code: "credit-unit/aggregation",
            message: `${where}: meter ${key} aggregates with ${aggregation}; a credit unit rates sum and count meters only`,
            hint: "credits add up per event: rate a meter that sums or counts",
            atKey: true,
          }),
        );
      }
      if (isMap(rate)) out.push(...rateTable(ctx, at, where, rate, meter === null));
    }
  }
  return out;
};

function rateTable(
  ctx: RuleContext,
  at: Path,
  where: string,
  rate: Record<string, unknown>,
  ofUnit: boolean,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (has(rate, "per") && !positive(rate.per)) {
    out.push(
      problem(ctx, [...at, "per"], {
        code: "credit-unit/per",
        message: `${where}.per must be greater than 0`,
        hint: "per is how many units the rates are given for: 1000 for per thousand tokens",
      }),
    );
  }
  if (has(rate, "by") && has(rate, "rate")) {
    out.push(
      problem(ctx, [...at, "rate"], {
        code: "credit-unit/rate-with-by",
        message: `${where} has both \`by\` and a flat \`rate\``,
        hint: "with `by`, list rates under `rates` and use `default` for the others",
      }),
    );
  }
  if (has(rate, "rates") && !has(rate, "by")) {
    out.push(
      problem(ctx, [...at, "rates"], {
        code: "credit-unit/rates-without-by",
        message: `${where} lists rates but no \`by\` property they vary by`,
        hint: "add `by: <event property>` (for example `by: model`), or give one `rate`",
      }),
    );
  }
  if (!has(rate, "rates") && !has(rate, "rate") && !has(rate, "default")) {
    out.push(
      problem(ctx, at, {
        code: "credit-unit/no-rate",
        message: `${where} gives no rate`,
        hint: "give `rate`, or `by` with `rates` (and optionally `default`)",
        atKey: true,
      }),
    );
  }
  if (ofUnit && has(rate, "by")) {
    out.push(
      problem(ctx, [...at, "by"], {
        code: "credit-unit/by-on-unit",
        message: `${where} rates another credit unit by a property`,
        hint: "a credit unit rates another at one flat rate: remove `by`",
      }),
    );
  }
  return out;
}

/** Credit units that rate each other in a loop have no value. */
export const creditUnitsAcyclic: Rule = (ctx) => {
  const units = mapOf(ctx.raw.credit_units);
  const refs = (id: string): string[] =>
    Object.keys(mapOf(mapOf(units[id]).rates)).filter((k) => Object.hasOwn(units, k));
  const out: Diagnostic[] = [];
  const reported = new Set<string>();
  for (const start of Object.keys(units)) {
    // Depth-first from each unit: a path that comes back to its start is a cycle (reported once, at its first member).
    const stack: { id: string; path: string[] }[] = [{ id: start, path: [start] }];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const { id, path } = stack.pop() as { id: string; path: string[] };
      for (const next of refs(id)) {
        if (next === start) {
          const cycle = [...path].sort().join(",");
          if (!reported.has(cycle)) {
            reported.add(cycle);
            out.push(
              problem(ctx, ["credit_units", start, "rates", path.length > 1 ? (path[1] as string) : start], {
                code: "credit-unit/cycle",
                message: `credit units rate each other in a cycle: ${[...path, start].join(" -> ")}`,
                hint: "a credit unit may rate another only if that one does not lead back to it",
                atKey: true,
              }),
            );
          }
        } else if (!seen.has(next)) {
          seen.add(next);
          stack.push({ id: next, path: [...path, next] });
        }
      }
    }
  }
  return out;
};

/** A cap lists entitlements of its plan (a contract's cap: of the customer's plan). */
export const capEntitlementsExist: Rule = (ctx) => {
  const plans = mapOf(ctx.raw.plans);
  const out: Diagnostic[] = [];
  const check = (at: Path, where: string, caps: unknown, plan: string | null) => {
    const ents = plan === null ? null : mapOf(mapOf(plans[plan]).entitlements);
    for (const [capId, cap] of entriesOf(caps)) {
      listOf(mapOf(cap).entitlements).forEach((e, i) => {
        const id = str(e);
        if (id === null || ents === null || Object.hasOwn(ents, id)) return;
        out.push(
          problem(ctx, [...at, capId, "entitlements", i], {
            code: "cap/unknown-entitlement",
            message: `${where}.${capId} lists "${id}", which plan ${plan} does not define`,
            hint:
              didYouMean(id, Object.keys(ents)) ?? `entitlements of ${plan}: ${listNames(Object.keys(ents))}`,
          }),
        );
      });
    }
  };
  for (const [planId, plan] of entriesOf(plans))
    check(["plans", planId, "caps"], `plans.${planId}.caps`, mapOf(plan).caps, planId);
  for (const [id, c] of sectionEntries(ctx, "customers")) {
    const plan = str(mapOf(c).plan);
    check(
      ["customers", id, "caps"],
      `customers.${id}.caps`,
      mapOf(c).caps,
      plan !== null && Object.hasOwn(plans, plan) ? plan : null,
    );
  }
  return out;
};

export const creditRules: Rule[] = [creditRatesValid, creditUnitsAcyclic, capEntitlementsExist];
