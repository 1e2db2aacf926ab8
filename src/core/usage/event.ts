import { parseInstant } from "../periods.js";

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
/** ISO-8601 with an explicit zone (Z or ±hh:mm): Date.parse reads these exactly and fast. */
const ZONED_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

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
  const ts = timestamp(r.timestamp, zone);
  if (ts === null) {
    return {
      ok: false,
      reason:
        r.timestamp === undefined ? "missing timestamp" : `bad timestamp ${JSON.stringify(r.timestamp)}`,
    };
  }
  let value: number | null = null;
  if (r.value !== undefined && r.value !== null && r.value !== "") {
    value =
      typeof r.value === "number" ? r.value : typeof r.value === "string" ? Number(r.value) : Number.NaN;
    if (!Number.isFinite(value)) return { ok: false, reason: `non-numeric value ${JSON.stringify(r.value)}` };
  }
  let properties: string | null = null;
  if (r.properties !== undefined && r.properties !== null) {
    if (typeof r.properties !== "object" || Array.isArray(r.properties))
      return { ok: false, reason: "properties must be an object" };
    properties = JSON.stringify(r.properties);
  }
  return { ok: true, event: { id, type, customer, ts, value, properties } };
}

function text(v: unknown): string | null {
  if (typeof v === "string") return v.length > 0 ? v : null;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return null;
}

function timestamp(v: unknown, zone: string): number | null {
  if (typeof v === "number") return Number.isInteger(v) ? v : null;
  if (typeof v !== "string" || v === "") return null;
  if (ZONED_ISO.test(v)) {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms;
  }
  return parseInstant(v, zone);
}

/**
 * CSV cell text to a property value: numbers and booleans are typed so that
 * `where` filters and sums behave as for NDJSON; everything else stays text.
 */
export function csvCell(text: string): string | number | boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  if (text !== "" && /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n) && (!/^-?0\d/.test(text) || text.includes("."))) return n;
  }
  return text;
}
