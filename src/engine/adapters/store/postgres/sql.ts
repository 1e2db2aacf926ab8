import type { CompiledMeter, PropertyValue } from "../../../core/model.js";
import type { LayoutReader } from "./layouts.js";

/**
 * SQL fragments over the `events` table for a meter, the Postgres reading of
 * the same meter semantics as the SQLite store (`core/usage/meters.ts`):
 * properties are JSONB (some extracted to typed columns at import), filters
 * compare JSON values.
 */

/** A string literal (standard_conforming_strings: only quotes are doubled). */
export function lit(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The JSON value of a property. */
export function prop(name: string): string {
  return `(properties -> ${lit(name)})`;
}

/**
 * JSON values a `where` entry accepts. SQLite's json_extract reads JSON
 * booleans as 1/0, so a boolean also accepts those numbers there; the same here.
 */
function accepted(v: PropertyValue): string[] {
  const json = (x: unknown) => `${lit(JSON.stringify(x))}::jsonb`;
  if (typeof v === "boolean") return [json(v), json(v ? 1 : 0)];
  return [json(v)];
}

/** The meter's `where` filter as conditions (empty when it has none). */
export function whereConditions(meter: CompiledMeter): string[] {
  return Object.entries(meter.where).map(
    ([k, values]) => `${prop(k)} IN (${values.flatMap(accepted).join(", ")})`,
  );
}

/**
 * The number an event adds to the meter (sum, max, latest; count uses
 * `countWeight`): the property, exact (NUMERIC), from its column when the
 * import extracted it (`layouts.ts`), or the event's `value`.
 */
export function numericValue(meter: CompiledMeter, read: LayoutReader): string {
  return meter.property ? read.number(meter.events, meter.property) : "value";
}

/** `countWeight`: the event's value when it has one, else 1. */
export const COUNT_WEIGHT = "COALESCE(value, 1)";

/** What unique_count counts distinct occurrences of. */
export function distinctValue(meter: CompiledMeter, read: LayoutReader): string {
  return meter.property ? read.text(meter.events, meter.property) : "value::text";
}

/** A property of the meter's events as the text rows are grouped by. */
export function dimension(meter: CompiledMeter, name: string, read: LayoutReader): string {
  return read.text(meter.events, name);
}

/** Parameter placeholders built alongside the SQL text. */
export class Params {
  readonly values: unknown[] = [];

  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** The rows of a meter in [start, end): its types, time range and filter. */
export function meterRows(meter: CompiledMeter, start: number, end: number, p: Params): string {
  const conds = [
    `type = ANY(${p.add(meter.events)}::text[])`,
    `ts >= ${p.add(clamp(start))}`,
    `ts < ${p.add(clamp(end))}`,
    ...whereConditions(meter),
  ];
  return conds.join(" AND ");
}

/** Infinite window edges (lifetime) as the widest BIGINT range a timestamp can have. */
export function clamp(t: number): number {
  if (t === Number.POSITIVE_INFINITY) return Number.MAX_SAFE_INTEGER;
  if (t === Number.NEGATIVE_INFINITY) return Number.MIN_SAFE_INTEGER;
  return t;
}
