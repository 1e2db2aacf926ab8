import type pg from "pg";
import type { CompiledPolicy } from "../../../core/model.js";
import { costDimension } from "../../../core/usage/meters.js";
import { lit, prop } from "./sql.js";

/**
 * Values extracted at import. Reading a property out of `properties` (JSONB)
 * on every row of every bill costs more than the rest of the aggregation,
 * so an import stores, per event, the numbers and texts the policy's meters
 * read in typed columns (`n1`..`n4` NUMERIC, `t1`..`t2` TEXT). A layout
 * (table `value_layouts`) says which property each column holds for one
 * event type; the event's `layout` column names it. A read uses the column
 * where the event's layout holds the property and extracts from the JSON
 * otherwise (events imported before the policy read that property, or
 * without a policy, or beyond the columns there are), with the same
 * functions (`limitr_numeric`, `limitr_text`): the answer never depends on
 * which path a row takes.
 */

/** Typed columns per event: numbers a meter sums, maxes or takes the latest of; texts it groups or counts by. */
export const NUMBER_SLOTS = 4;
export const TEXT_SLOTS = 2;

export interface Layout {
  id: number;
  type: string;
  /** Property held by n1, n2, ... */
  numbers: string[];
  /** Property held by t1, t2, ... */
  texts: string[];
}

/** What a layout holds, per event type, before it has an id. */
export type LayoutSpec = Omit<Layout, "id">;

/**
 * The properties the policy's meters read, per event type: the value
 * property of sum, max and latest meters (numbers); the cost dimension of
 * sums and counts, the counted property of unique_count and the meters'
 * `group_by` (texts). `where` filters compare JSON values and stay on the
 * JSON. Beyond the columns there are, properties are read from the JSON.
 */
export function layoutSpecs(policy: CompiledPolicy): LayoutSpec[] {
  const byType = new Map<string, { numbers: Set<string>; texts: Set<string> }>();
  for (const meter of Object.values(policy.meters)) {
    for (const type of meter.events) {
      let s = byType.get(type);
      if (!s) byType.set(type, (s = { numbers: new Set(), texts: new Set() }));
      const a = meter.aggregation;
      if (meter.property && (a === "sum" || a === "max" || a === "latest")) s.numbers.add(meter.property);
      if (meter.property && a === "unique_count") s.texts.add(meter.property);
      const cost = costDimension(meter);
      if (cost && (a === "sum" || a === "count")) s.texts.add(cost);
      for (const g of meter.groupBy) s.texts.add(g);
    }
  }
  const sorted = (s: Set<string>, n: number) => [...s].sort().slice(0, n);
  return [...byType.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, s]) => ({
      type,
      numbers: sorted(s.numbers, NUMBER_SLOTS),
      texts: sorted(s.texts, TEXT_SLOTS),
    }))
    .filter((l) => l.numbers.length > 0 || l.texts.length > 0);
}

/** Find or create each spec's layout (concurrent importers agree on one id per content). */
export async function registerLayouts(
  client: pg.PoolClient | pg.Pool,
  specs: LayoutSpec[],
): Promise<Layout[]> {
  const out: Layout[] = [];
  for (const s of specs) {
    await client.query(
      `INSERT INTO value_layouts (type, numbers, texts, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (type, numbers, texts) DO NOTHING`,
      [s.type, s.numbers, s.texts, Date.now()],
    );
    const r = await client.query<{ id: number }>(
      "SELECT id FROM value_layouts WHERE type = $1 AND numbers = $2 AND texts = $3",
      [s.type, s.numbers, s.texts],
    );
    out.push({ id: r.rows[0]?.id as number, ...s });
  }
  return out;
}

/** Every layout ever used (a read maps each to its columns). */
export async function allLayouts(pool: pg.Pool | pg.PoolClient): Promise<Layout[]> {
  const r = await pool.query<Layout>("SELECT id, type, numbers, texts FROM value_layouts ORDER BY id");
  return r.rows;
}

/** The newest layout of each type: what an import without a policy extracts (what the last one did). */
export function latestPerType(layouts: Layout[]): Layout[] {
  const latest = new Map<string, Layout>();
  for (const l of layouts) if ((latest.get(l.type)?.id ?? -1) < l.id) latest.set(l.type, l);
  return [...latest.values()];
}

/** The column expressions of an `INSERT ... SELECT` from rows with `type` and `properties`. */
export function extractColumns(layouts: Layout[]): { names: string[]; values: string[] } {
  const names = ["layout"];
  for (let i = 1; i <= NUMBER_SLOTS; i++) names.push(`n${i}`);
  for (let i = 1; i <= TEXT_SLOTS; i++) names.push(`t${i}`);
  const cases: string[][] = names.map(() => []);
  for (const l of layouts) {
    const when = `WHEN ${lit(l.type)} THEN`;
    (cases[0] as string[]).push(`${when} ${l.id}`);
    l.numbers.forEach((p, i) => {
      (cases[1 + i] as string[]).push(`${when} limitr_numeric(${prop(p)})`);
    });
    l.texts.forEach((p, i) => {
      (cases[1 + NUMBER_SLOTS + i] as string[]).push(`${when} limitr_text(${prop(p)})`);
    });
  }
  const values = cases.map((c, i) => {
    const type = i === 0 ? "integer" : i <= NUMBER_SLOTS ? "numeric" : "text";
    return c.length === 0 ? `NULL::${type}` : `CASE type ${c.join(" ")} END`;
  });
  return { names, values };
}

/**
 * How a read gets a property of a meter's events: from a column for the
 * layouts that hold it, from the JSON for every other row.
 */
export class LayoutReader {
  constructor(private readonly layouts: readonly Layout[]) {}

  /** The property as a number (NUMERIC), as `limitr_numeric` reads it from the JSON. */
  number(types: readonly string[], property: string): string {
    return this.pick(types, property, "numbers", "n", `limitr_numeric(${prop(property)})`);
  }

  /** The property as the text rows are grouped or counted by, as `limitr_text` reads it. */
  text(types: readonly string[], property: string): string {
    return this.pick(types, property, "texts", "t", `limitr_text(${prop(property)})`);
  }

  /**
   * One expression reading, for the rows of each type in `wanted`, that
   * type's property (null: the event's `value` as text): from its column
   * where the row's layout holds it, else from the JSON. Rows of other types
   * read NULL (a layout number tells their type without comparing text), so
   * only a caller that ignores those rows may use it.
   */
  perType(field: "numbers" | "texts", wanted: ReadonlyMap<string, string | null>): string {
    const column = field === "numbers" ? "n" : "t";
    const whens: string[] = [];
    for (const l of this.layouts) {
      const p = wanted.get(l.type);
      const i = p === undefined || p === null ? -1 : l[field].indexOf(p);
      if (!wanted.has(l.type)) whens.push(`WHEN ${l.id} THEN NULL`);
      else if (i >= 0) whens.push(`WHEN ${l.id} THEN ${column}${i + 1}`);
    }
    const fn = field === "numbers" ? "limitr_numeric" : "limitr_text";
    const json = [...wanted].map(
      ([type, p]) => `WHEN ${lit(type)} THEN ${p === null ? "value::text" : `${fn}(${prop(p)})`}`,
    );
    const fallback = `(CASE type ${json.join(" ")} END)`;
    return whens.length === 0 ? fallback : `(CASE layout ${whens.join(" ")} ELSE ${fallback} END)`;
  }

  private pick(
    types: readonly string[],
    property: string,
    field: "numbers" | "texts",
    column: string,
    fallback: string,
  ): string {
    const whens: string[] = [];
    for (const l of this.layouts) {
      const i = l[field].indexOf(property);
      if (i >= 0 && types.includes(l.type)) whens.push(`WHEN ${l.id} THEN ${column}${i + 1}`);
    }
    return whens.length === 0 ? fallback : `(CASE layout ${whens.join(" ")} ELSE ${fallback} END)`;
  }
}

/** A reader that always extracts from the JSON (the reference the columns are tested against). */
export const JSON_ONLY = new LayoutReader([]);
