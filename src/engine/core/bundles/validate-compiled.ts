import type { CompiledPolicy } from "../model.js";
import { ISO_4217 } from "../money.js";
import { isValidTimezone } from "../periods.js";
import { decompilePolicy } from "../policy/decompile.js";
import { validatePolicyDocument } from "../policy/validate-document.js";

/**
 * Checks for a compiled policy that arrives as JSON (a bundle blob, a cached
 * bundle, a bundle file), before an engine runs on it. A signature proves who
 * published a policy, not that it is sound: the structure is checked first
 * (so nothing below trips over a hand-made blob), then the policy, written
 * back in the YAML shape, goes through the same validator as `limitr
 * validate` (schema and every semantic rule: parent cycles, tiers, ...).
 * Pure; returns one message per problem, empty when the policy is sound.
 *
 * @example
 *   verifyBundle(bundle, { crypto, validate: validateCompiledPolicy });
 */
export function validateCompiledPolicy(value: unknown): string[] {
  const problems = structureProblems(value);
  if (problems.length > 0) return problems;
  let raw: Record<string, unknown>;
  try {
    raw = decompilePolicy(value as CompiledPolicy);
  } catch (err) {
    return [`the policy is not a compiled policy: ${err instanceof Error ? err.message : String(err)}`];
  }
  return validatePolicyDocument(raw, "policy", { compile: false })
    .diagnostics.filter((d) => d.severity === "error")
    .map((d) => `${d.message} [${d.code}]`);
}

/** The shape an engine relies on: sections are maps, references resolve, enums are known. */
function structureProblems(value: unknown): string[] {
  const problems: string[] = [];
  const p = value as Record<string, unknown> | null;
  if (!isRecord(p)) return ["the policy is not an object"];
  if (p.formatVersion !== 1) return [`formatVersion must be 1 (got ${String(p.formatVersion)})`];
  if (typeof p.name !== "string") problems.push("name must be a string");
  if (typeof p.currency !== "string" || !ISO_4217.has(p.currency))
    problems.push(`currency ${String(p.currency)} is not an ISO 4217 code`);
  if (!Number.isInteger(p.currencyDigits)) problems.push("currencyDigits must be an integer");
  if (typeof p.timezone !== "string" || !isValidTimezone(p.timezone))
    problems.push(`timezone ${String(p.timezone)} is not an IANA zone`);
  for (const section of ["meters", "plans", "customers", "alerts", "channels"] as const) {
    if (!isRecord(p[section])) problems.push(`${section} must be an object`);
  }
  if (problems.length > 0) return problems;

  const meters = p.meters as Record<string, unknown>;
  for (const [id, meter] of Object.entries(meters)) checkMeter(id, meter, problems);
  if (p.creditUnits !== undefined && !isRecord(p.creditUnits)) problems.push("creditUnits must be an object");
  // An entitlement may count a credit unit (SPEC §12).
  const countable = isRecord(p.creditUnits) ? { ...meters, ...p.creditUnits } : meters;
  const plans = p.plans as Record<string, unknown>;
  const defined = new Set<string>();
  for (const [id, plan] of Object.entries(plans)) checkPlan(id, plan, countable, defined, problems);
  if (p.defaultPlan !== null && !(typeof p.defaultPlan === "string" && Object.hasOwn(plans, p.defaultPlan)))
    problems.push(`defaultPlan ${String(p.defaultPlan)} is not a plan of the policy`);
  const customers = p.customers as Record<string, unknown>;
  for (const [id, customer] of Object.entries(customers)) {
    const c = customer as Record<string, unknown>;
    if (!isRecord(c)) {
      problems.push(`customers.${id} must be an object`);
      continue;
    }
    if (c.plan !== null && !(typeof c.plan === "string" && Object.hasOwn(plans, c.plan)))
      problems.push(`customers.${id}.plan ${String(c.plan)} is not a plan of the policy`);
    if (c.parent !== null && !(typeof c.parent === "string" && Object.hasOwn(customers, c.parent)))
      problems.push(`customers.${id}.parent ${String(c.parent)} is not a customer of the policy`);
    if (!isRecord(c.overrides)) problems.push(`customers.${id}.overrides must be an object`);
    else
      for (const key of Object.keys(c.overrides))
        if (!defined.has(key))
          problems.push(`customers.${id}.overrides.${key} names no entitlement of any plan`);
  }
  return problems;
}

const AGGREGATIONS = new Set(["sum", "count", "max", "unique_count", "latest", "time_weighted"]);
const PERIODS = new Set(["hour", "day", "week", "month", "quarter", "year", "lifetime", "billing"]);

/** A calendar unit, `{ every, everyMs, anchor }` or `{ sliding, slidingMs }` with a positive length. */
function knownPeriod(p: unknown): boolean {
  if (typeof p === "string") return PERIODS.has(p);
  if (!isRecord(p)) return false;
  if ("sliding" in p) return typeof p.slidingMs === "number" && p.slidingMs > 0;
  return (
    typeof p.everyMs === "number" &&
    p.everyMs > 0 &&
    (p.anchor === "first_use" || p.anchor === "subscription")
  );
}
const MODES = new Set(["hard", "soft", "observe", "prepaid"]);
const SCOPES = new Set(["customer", "parent", "root"]);
const MODELS = new Set(["per_unit", "graduated", "volume", "package", "percentage"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkMeter(id: string, meter: unknown, problems: string[]): void {
  const m = meter as Record<string, unknown>;
  if (!isRecord(m)) return void problems.push(`meters.${id} must be an object`);
  if (!Array.isArray(m.events) || m.events.length === 0 || !m.events.every((e) => typeof e === "string"))
    problems.push(`meters.${id}.events must be a non-empty list of event types`);
  if (!AGGREGATIONS.has(m.aggregation as string))
    problems.push(`meters.${id}.aggregation ${String(m.aggregation)} is unknown`);
  if (!isRecord(m.where)) problems.push(`meters.${id}.where must be an object`);
}

function checkPlan(
  id: string,
  plan: unknown,
  meters: Record<string, unknown>,
  defined: Set<string>,
  problems: string[],
): void {
  const p = plan as Record<string, unknown>;
  if (!isRecord(p) || !isRecord(p.entitlements))
    return void problems.push(`plans.${id}.entitlements must be an object`);
  for (const [eid, ent] of Object.entries(p.entitlements)) {
    defined.add(eid);
    const at = `plans.${id}.entitlements.${eid}`;
    const e = ent as Record<string, unknown>;
    if (!isRecord(e)) {
      problems.push(`${at} must be an object`);
    } else if (e.kind === "flag") {
      if (typeof e.enabled !== "boolean") problems.push(`${at}.enabled must be a boolean`);
    } else if (e.kind === "metered") {
      if (typeof e.meter !== "string" || !Object.hasOwn(meters, e.meter))
        problems.push(`${at}.meter ${String(e.meter)} is not a meter of the policy`);
      if (e.limit !== null && !(typeof e.limit === "number" && e.limit >= 0))
        problems.push(`${at}.limit must be null or a number >= 0`);
      if (!knownPeriod(e.period)) problems.push(`${at}.period ${JSON.stringify(e.period)} is unknown`);
      if (!MODES.has(e.mode as string)) problems.push(`${at}.mode ${String(e.mode)} is unknown`);
      if (!SCOPES.has(e.scope as string)) problems.push(`${at}.scope ${String(e.scope)} is unknown`);
      if (e.price !== null && !(isRecord(e.price) && MODELS.has(e.price.model as string)))
        problems.push(`${at}.price must be null or a charge model`);
      const r = e.rate as Record<string, unknown> | null;
      if (r !== null && !(isRecord(r) && Number(r.capacity) > 0 && Number(r.perSecond) >= 0))
        problems.push(`${at}.rate must be null or { capacity > 0, perSecond >= 0 }`);
    } else {
      problems.push(`${at}.kind must be "flag" or "metered"`);
    }
  }
}
