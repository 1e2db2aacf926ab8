import type { ErrorObject, ValidateFunction } from "ajv";
import type { Diagnostic } from "./diagnostics.js";
import { dotted, type Location, type Locations, locate, pointer } from "./locations.js";
import { validate as generated } from "./policy-validator.generated.js";
import { didYouMean } from "./suggest.js";

/**
 * Stage 2: one policy file against schemas/policy.schema.json. Every ajv
 * error becomes one diagnostic at the exact key or value it is about. The
 * validator is ajv's code for the schema generated at build time
 * (scripts/gen-validators.ts), so no process compiles the schema.
 */
const validator = (): ValidateFunction => generated as ValidateFunction;

export function schemaDiagnostics(
  file: string,
  value: unknown,
  locations: Locations,
  numbers: Map<string, string>,
): Diagnostic[] {
  const validate = validator();
  if (validate(value)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of alternativesFolded(validate.errors ?? [])) {
    const d = toDiagnostic(e, file, locations, numbers);
    if (!d) continue;
    const key = `${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

/** What an `anyOf`/`oneOf` failure is reported as: its branches' errors, folded. */
type Folded =
  | ErrorObject
  | { keyword: "alternatives"; instancePath: string; data: unknown; alternatives: ErrorObject[] };

/** Errors that say a value had a branch's shape but was wrong inside it (so that branch is what was meant). */
const STRUCTURAL = new Set([
  "required",
  "additionalProperties",
  "minProperties",
  "propertyNames",
  "uniqueItems",
]);

/**
 * ajv reports a failed `anyOf` as every branch's errors followed by "must
 * match a schema in anyOf". With allErrors, a branch's errors come right
 * before the anyOf error and sit at or under its path. When one branch's
 * shape matched (an error inside the value), that branch was meant: report
 * its errors only. Otherwise fold the branches into one "must be A or B".
 */
function alternativesFolded(errors: ErrorObject[]): Folded[] {
  const out: Folded[] = [];
  for (const e of errors) {
    if (e.keyword !== "anyOf" && e.keyword !== "oneOf") {
      out.push(e);
      continue;
    }
    const at = e.instancePath;
    let first = out.length;
    while (first > 0) {
      const prev = out[first - 1] as Folded;
      if (prev.instancePath !== at && !prev.instancePath.startsWith(`${at}/`)) break;
      first--;
    }
    const branches = out.splice(first);
    const inside = branches.filter(
      (b) => "alternatives" in b || b.instancePath !== at || STRUCTURAL.has(b.keyword),
    );
    if (inside.length > 0) out.push(...inside);
    else
      out.push({
        keyword: "alternatives",
        instancePath: at,
        data: e.data,
        alternatives: branches as ErrorObject[],
      });
  }
  return out;
}

/** One branch of an anyOf, as the reader knows it: its title, its values or its type. */
function alternative(e: ErrorObject): string {
  const title = (e.parentSchema as { title?: unknown } | undefined)?.title;
  if (typeof title === "string") return title;
  const p = e.params as Record<string, unknown>;
  if (e.keyword === "enum") return `one of ${(p.allowedValues as unknown[]).map(String).join(", ")}`;
  if (e.keyword === "const") return JSON.stringify(p.allowedValue);
  if (e.keyword === "type")
    return String(p.type)
      .split(",")
      .map((t) => TYPE_NAMES[t] ?? t)
      .join(" or ");
  return `a value that ${e.message ?? "is valid"}`;
}

const TYPE_NAMES: Record<string, string> = {
  object: "a map",
  array: "a list",
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false (a boolean)",
  null: "null",
};

function describe(data: unknown, ptr: string, numbers: Map<string, string>): string {
  if (data === null || data === undefined) return "nothing";
  if (Array.isArray(data)) return "a list";
  if (ArrayBuffer.isView(data)) return "binary data";
  if (typeof data === "object") return "a map";
  if (typeof data === "number") return numbers.get(ptr) ?? String(data);
  if (typeof data === "string") return JSON.stringify(data.length > 40 ? `${data.slice(0, 40)}...` : data);
  return String(data);
}

function toDiagnostic(
  f: Folded,
  file: string,
  locations: Locations,
  numbers: Map<string, string>,
): Diagnostic | null {
  const ptr = f.instancePath;
  const path = dotted(ptr);
  const subject = path === "" ? "the file" : path;
  const got = describe(f.data, ptr, numbers);
  const at = (target: string, prefer: "key" | "value") => position(locations, target, prefer);
  if ("alternatives" in f) {
    const alts = [...new Set(f.alternatives.map(alternative))];
    const want = alts.length === 1 ? alts[0] : `${alts.slice(0, -1).join(", ")} or ${alts[alts.length - 1]}`;
    return make("schema/any-of", `${subject} must be ${want} (got ${got})`, ptr, at(ptr, "value"));
  }
  const e = f;
  // if/then only routes to the branch that reports the real error; propertyNames' inner errors repeat the outer one.
  if (e.keyword === "if" || e.propertyName !== undefined) return null;
  const p = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;

  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(p.additionalProperty);
      const target = `${ptr}${pointer([key])}`;
      const known = Object.keys((parent.properties as object | undefined) ?? {});
      return make(
        "schema/additional-property",
        `${subject} has unknown key "${key}"`,
        target,
        at(target, "key"),
        didYouMean(key, known),
      );
    }
    case "propertyNames": {
      const key = String(p.propertyName);
      const target = `${ptr}${pointer([key])}`;
      const reserved = key === "__proto__" || key === "constructor" || key === "prototype";
      const why = reserved
        ? "is reserved"
        : "is not a valid id: use letters, digits, _ . - and start with a letter or digit";
      return make("schema/invalid-id", `"${key}" in ${subject} ${why}`, target, at(target, "key"));
    }
    case "required":
      return make(
        "schema/required",
        `${subject} is missing required key "${String(p.missingProperty)}"`,
        ptr,
        at(ptr, "key"),
      );
    case "type": {
      const want = String(p.type)
        .split(",")
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(" or ");
      return make("schema/type", `${subject} must be ${want} (got ${got})`, ptr, at(ptr, "value"));
    }
    case "minimum":
    case "exclusiveMinimum":
    case "maximum":
    case "exclusiveMaximum": {
      const code = e.keyword.toLowerCase().includes("min") ? "schema/minimum" : "schema/maximum";
      return make(
        code,
        `${subject} must be ${String(p.comparison)} ${String(p.limit)} (got ${got})`,
        ptr,
        at(ptr, "value"),
      );
    }
    case "enum": {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const hint = typeof e.data === "string" ? didYouMean(e.data, allowed) : undefined;
      return make(
        "schema/enum",
        `${subject} must be one of ${allowed.join(", ")} (got ${got})`,
        ptr,
        at(ptr, "value"),
        hint,
      );
    }
    case "const":
      return make(
        "schema/const",
        `${subject} must be ${JSON.stringify(p.allowedValue)} (got ${got})`,
        ptr,
        at(ptr, "value"),
      );
    case "pattern": {
      const want = typeof parent.title === "string" ? parent.title : `text matching ${String(p.pattern)}`;
      return make("schema/pattern", `${subject} must be ${want} (got ${got})`, ptr, at(ptr, "value"));
    }
    case "minLength":
      return make("schema/min-length", `${subject} must not be empty`, ptr, at(ptr, "value"));
    case "maxLength":
      return make(
        "schema/max-length",
        `${subject} must be at most ${String(p.limit)} characters`,
        ptr,
        at(ptr, "value"),
      );
    case "minItems":
      return make(
        "schema/min-items",
        `${subject} must have at least ${String(p.limit)} item${p.limit === 1 ? "" : "s"}`,
        ptr,
        at(ptr, "value"),
      );
    case "minProperties":
      return make("schema/min-properties", `${subject} must not be empty`, ptr, at(ptr, "value"));
    case "uniqueItems": {
      const target = `${ptr}${pointer([Number(p.i)])}`;
      return make(
        "schema/unique-items",
        `${subject} lists the same value twice (items ${Number(p.j)} and ${Number(p.i)})`,
        target,
        at(target, "value"),
      );
    }
    default:
      return make(
        `schema/${e.keyword.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
        `${subject} ${e.message ?? "is invalid"}`,
        ptr,
        at(ptr, "value"),
      );
  }

  function make(
    code: string,
    message: string,
    target: string,
    loc: Location["value"],
    hint?: string,
  ): Diagnostic {
    return {
      severity: "error",
      code,
      message,
      file,
      line: loc.line,
      column: loc.column,
      path: dotted(target),
      ...(hint ? { hint } : {}),
    };
  }
}

function position(locations: Locations, ptr: string, prefer: "key" | "value"): Location["value"] {
  const loc = locate(locations, ptr);
  if (!loc) return { line: 1, column: 1 };
  return prefer === "key" ? (loc.key ?? loc.value) : loc.value;
}
