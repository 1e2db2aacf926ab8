import { eventTime } from "./event-time.js";

/**
 * One usage event (SPEC §6), validated and normalised for the store:
 * `{ id, type, customer, timestamp, value?, properties? }`.
 */
export interface UsageEvent {
  id: string;
  type: string;
  customer: string;
  /** Epoch milliseconds. */
  ts: number;
  value: number | null;
  /** Canonical JSON of the properties object, or null. */
  properties: string | null;
}

export type ParsedRow = { ok: true; event: UsageEvent } | { ok: false; reason: string };

const FIELDS = new Set(["id", "type", "customer", "timestamp", "value", "properties"]);

/**
 * The largest magnitude of a `value` or a numeric property: the largest power
 * of ten below 2^53, so every whole number up to it is exact in the store and
 * a quantity of it still prices exactly.
 */
export const MAX_VALUE = 1e15;
const BOUND = "(|value| <= 1e15)";
/** A property name JavaScript objects cannot hold as data: CSV columns and readers would drop it. */
export const RESERVED_PROPERTY = "__proto__";

/**
 * Validate one record (a parsed NDJSON object, or a CSV row already folded
 * into that shape). Offset-less timestamps are read in `zone`.
 */
export function parseEventRecord(record: unknown, zone: string): ParsedRow {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const r = record as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!FIELDS.has(key)) return { ok: false, reason: `unknown field "${key}"` };
  }
  const id = text(r.id);
  if (!id) return { ok: false, reason: "missing id" };
  const type = text(r.type);
  if (!type) return { ok: false, reason: "missing type" };
  const customer = text(r.customer);
  if (!customer) return { ok: false, reason: "missing customer" };
  const ts = eventTime(r.timestamp, zone);
  if (typeof ts === "string") return { ok: false, reason: ts };
  let value: number | null = null;
  if (r.value !== undefined && r.value !== null && r.value !== "") {
    value =
      typeof r.value === "number" ? r.value : typeof r.value === "string" ? Number(r.value) : Number.NaN;
    if (!Number.isFinite(value)) return { ok: false, reason: `non-numeric value ${JSON.stringify(r.value)}` };
    if (Math.abs(value) > MAX_VALUE) {
      const shown = typeof r.value === "number" ? String(r.value) : JSON.stringify(r.value);
      return { ok: false, reason: `value ${shown} is out of range ${BOUND}` };
    }
  }
  let properties: string | null = null;
  if (r.properties !== undefined && r.properties !== null) {
    if (typeof r.properties !== "object" || Array.isArray(r.properties))
      return { ok: false, reason: "properties must be an object" };
    if (Object.hasOwn(r.properties, RESERVED_PROPERTY)) {
      return { ok: false, reason: `the property name "${RESERVED_PROPERTY}" is reserved` };
    }
    const reason = outOfRange(r.properties as Record<string, unknown>, "");
    if (reason) return { ok: false, reason };
    properties = JSON.stringify(r.properties);
  }
  return { ok: true, event: { id, type, customer, ts, value, properties } };
}

/** The first numeric property (at any depth) beyond MAX_VALUE, as a reason. */
function outOfRange(props: Record<string, unknown>, prefix: string): string | null {
  // for-in over parsed JSON (own, enumerable keys only): the cheapest walk on the import path.
  for (const key in props) {
    const v = props[key];
    if (typeof v === "number") {
      if (v > MAX_VALUE || v < -MAX_VALUE) return `property "${prefix}${key}" ${v} is out of range ${BOUND}`;
    } else if (v !== null && typeof v === "object") {
      const inner = outOfRange(v as Record<string, unknown>, `${prefix}${key}.`);
      if (inner) return inner;
    }
  }
  return null;
}

function text(v: unknown): string | null {
  if (typeof v === "string") return v.length > 0 ? v : null;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return null;
}

/**
 * CSV cell text to a property value: numbers and booleans are typed so that
 * `where` filters and sums behave as for NDJSON; everything else (and whole
 * numbers of more than 15 digits) stays text.
 */
export function csvCell(text: string): string | number | boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  // More than 15 digits cannot be an exact number: an identifier (a card or account number) stays text.
  if (/^-?\d{16,}$/.test(text)) return text;
  if (text !== "" && /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n) && (!/^-?0\d/.test(text) || text.includes("."))) return n;
  }
  return text;
}
