import { Decimal } from "../money.js";
import { formatInstant, parseInstant } from "../periods.js";
import { DECIMAL_FIELDS, INSTANT_FIELDS } from "./fields.js";
import type { Expected, ExpectedField } from "./model.js";

/**
 * Partial matching of an expectation against what a step produced: only the
 * listed fields are compared. Money and prices compare as exact decimals
 * ("49" equals "49.00"); counters compare as numbers within 1e-9 (the engine
 * counts in floating point); instants compare as instants.
 */
export interface Mismatch {
  field: string;
  line: number;
  expected: unknown;
  got: unknown;
}

/** Relative tolerance for counter values, the engine's own epsilon (R3). */
const EPS = 1e-9;

export function matchFields(
  fields: readonly ExpectedField[],
  got: Record<string, unknown>,
  zone: string,
  prefix = "",
): Mismatch[] {
  const out: Mismatch[] = [];
  for (const f of fields) {
    const path = prefix === "" ? f.name : `${prefix}.${f.name}`;
    const value = Object.hasOwn(got, f.name) ? got[f.name] : undefined;
    if (f.value.kind === "map") {
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        out.push(...matchFields(f.value.fields, value as Record<string, unknown>, zone, path));
      } else out.push({ field: path, line: f.line, expected: plain(f.value), got: value ?? null });
      continue;
    }
    if (!matches(f.name, f.value, value, zone)) {
      out.push({ field: path, line: f.line, expected: plain(f.value), got: shown(f.name, value, zone) });
    }
  }
  return out;
}

function matches(name: string, expected: Expected, got: unknown, zone: string): boolean {
  switch (expected.kind) {
    case "null":
      return got === null || got === undefined;
    case "boolean":
      return got === expected.value;
    case "number":
      if (DECIMAL_FIELDS.has(name)) return decimalEquals(expected.text, got);
      if (INSTANT_FIELDS.has(name)) return typeof got === "number" && got === Number(expected.text);
      return typeof got === "number" && close(Number(expected.text), got);
    case "string": {
      if (DECIMAL_FIELDS.has(name) && isDecimal(expected.value)) return decimalEquals(expected.value, got);
      if (INSTANT_FIELDS.has(name) && typeof got === "number") {
        return parseInstant(expected.value, zone) === got;
      }
      return got === expected.value;
    }
    case "map":
      return false;
  }
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= EPS * Math.max(1, Math.abs(a), Math.abs(b));
}

function isDecimal(text: string): boolean {
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text.trim());
}

function decimalEquals(text: string, got: unknown): boolean {
  if (!isDecimal(text)) return false;
  const g =
    got instanceof Decimal ? got : typeof got === "string" || typeof got === "number" ? String(got) : null;
  if (g === null || (typeof g === "string" && !isDecimal(g))) return false;
  return new Decimal(text.trim()).equals(g);
}

/** The expectation as a JSON value, for reports. Numbers keep their written text when a float would change it. */
export function plain(e: Expected): unknown {
  switch (e.kind) {
    case "null":
      return null;
    case "boolean":
      return e.value;
    case "string":
      return e.value;
    case "number": {
      const n = Number(e.text);
      return String(n) === e.text ? n : e.text;
    }
    case "map":
      return Object.fromEntries(e.fields.map((f) => [f.name, plain(f.value)]));
  }
}

/** What the step produced, as a JSON value: instants as ISO times in the policy zone. */
function shown(name: string, got: unknown, zone: string): unknown {
  if (got === undefined) return null;
  if (INSTANT_FIELDS.has(name) && typeof got === "number") return formatInstant(got, zone);
  if (got instanceof Decimal) return got.toString();
  return got;
}
