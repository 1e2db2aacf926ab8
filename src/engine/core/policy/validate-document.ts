import { compilePolicy } from "../compile.js";
import type { CompiledPolicy } from "../model.js";
import type { Diagnostic } from "./diagnostics.js";
import { pointer } from "./locations.js";
import type { MergedPolicy } from "./merge.js";
import { RULES, runRules } from "./rules.js";
import { schemaDiagnostics } from "./schema-stage.js";

/**
 * Validation of a policy document in the YAML shape, and compilation. This
 * half of the validator does not parse YAML (./validate.ts does, for files):
 * loading a bundle (which carries a compiled policy, checked again here)
 * never loads the YAML parser.
 */

export interface PolicyStats {
  files: number;
  meters: number;
  plans: number;
  customers: number;
  alerts: number;
}

export interface ValidationResult {
  /** The compiled policy, present exactly when there are no errors (warnings allowed). */
  policy?: CompiledPolicy;
  /** Sorted by file, line, column. */
  diagnostics: Diagnostic[];
  stats: PolicyStats;
}

/**
 * Validate one policy document already in the YAML shape (no files, so no
 * positions: problems name their path and `where`): the schema and every
 * semantic rule, then compile. The bundle loader runs this on the policy a
 * bundle carries (see `decompilePolicy`), so a bundle is held to exactly the
 * rules `limitr validate` applies; it passes `compile: false`, since the
 * bundle already holds the compiled policy (the decompiled form compiles back
 * to it: test/gitops/validate-compiled.test.ts).
 */
export function validatePolicyDocument(
  raw: Record<string, unknown>,
  where: string,
  options: { compile?: boolean } = {},
): ValidationResult {
  const merged = { raw, locations: new Map(), numbers: new Map<string, string>(), diagnostics: [] };
  const diagnostics = [
    ...schemaDiagnostics(where, raw, merged.locations, merged.numbers),
    ...runRules({ ...merged, fallbackFile: where }, RULES),
  ];
  return finishValidation(merged, diagnostics, 1, where, options.compile ?? true);
}

/** The stats of `merged`, then (unless `compile` is false) its compilation when `sorted` holds no error. */
export function finishValidation(
  merged: MergedPolicy,
  sorted: Diagnostic[],
  files: number,
  fallback: string,
  compile = true,
): ValidationResult {
  const count = (section: string) => {
    const v = merged.raw[section];
    return v && typeof v === "object" ? Object.keys(v).length : 0;
  };
  const stats: PolicyStats = {
    files,
    meters: count("meters"),
    plans: count("plans"),
    customers: count("customers"),
    alerts: count("alerts"),
  };
  if (!compile || sorted.some((d) => d.severity === "error")) return { diagnostics: sorted, stats };
  try {
    return { policy: compilePolicy(exactMoney(merged.raw, merged.numbers)), diagnostics: sorted, stats };
  } catch (err) {
    // Validation let through something the compiler cannot handle: a bug, but reported, not thrown.
    const message = err instanceof Error ? err.message : String(err);
    sorted.push({
      severity: "error",
      code: "policy/compile",
      message: `the policy passed validation but failed to compile: ${message}`,
      file: fallback,
      line: 1,
      column: 1,
      path: "",
      hint: "this is a bug in limitr; please report it with the policy",
    });
    return { diagnostics: sorted, stats };
  }
}

/** Fields holding money (SPEC §2.3): their numbers go to the compiler as the exact text written. */
const MONEY_KEYS = new Set([
  "price",
  "minimum",
  "unit_price",
  "flat_fee",
  "package_price",
  "fixed_fee",
  "overage",
  "percent",
  "amount",
  "cost",
  "default",
  "rate",
]);
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A copy of the merged policy where every number in a money field is its source text ("0.1", never 0.1000000000000000055...). */
export function exactMoney(
  raw: Record<string, unknown>,
  numbers: Map<string, string>,
): Record<string, unknown> {
  // The path is kept as a stack of keys and made into a pointer only for a money number: a large policy has a million values.
  const path: (string | number)[] = [];
  const walk = (value: unknown, key: string, parentKey: string): unknown => {
    if (Array.isArray(value))
      return value.map((v, i) => {
        path.push(i);
        const out = walk(v, key, parentKey);
        path.pop();
        return out;
      });
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = Object.create(null);
      for (const k of Object.keys(value)) {
        path.push(k);
        out[k] = walk((value as Record<string, unknown>)[k], k, key);
        path.pop();
      }
      return out;
    }
    if (typeof value === "number" && (MONEY_KEYS.has(key) || parentKey === "rates")) {
      const text = numbers.get(pointer(path));
      return text !== undefined && DECIMAL_TEXT.test(text) ? text.replace(/^\+/, "") : value;
    }
    return value;
  };
  return walk(raw, "", "") as Record<string, unknown>;
}
