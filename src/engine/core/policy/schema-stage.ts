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
  for (const e of validate.errors ?? []) {
    const d = toDiagnostic(e, file, locations, numbers);
    if (!d) continue;
    const key = `${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
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
  e: ErrorObject,
  file: string,
  locations: Locations,
  numbers: Map<string, string>,
): Diagnostic | null {
  // if/then only routes to the branch that reports the real error; propertyNames' inner errors repeat the outer one.
  if (e.keyword === "if" || e.propertyName !== undefined) return null;
  const ptr = e.instancePath;
  const path = dotted(ptr);
  const subject = path === "" ? "the file" : path;
  const got = describe(e.data, ptr, numbers);
  const p = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const at = (target: string, prefer: "key" | "value") => position(locations, target, prefer);

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
      return make(`schema/${e.keyword}`, `${subject} ${e.message ?? "is invalid"}`, ptr, at(ptr, "value"));
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
