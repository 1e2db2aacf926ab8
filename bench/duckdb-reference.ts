/**
 * DuckDB on the same data, as an optional reference for the bill bench.
 *
 * DuckDB is not a dependency: the reference runs when `@duckdb/node-api`
 * resolves (`npm i --no-save @duckdb/node-api`, or BENCH_DUCKDB_MODULE set to
 * its entry file) and is skipped otherwise. It loads the generated NDJSON into
 * an in-memory DuckDB table (properties kept as JSON, as the events table keeps
 * them), then runs, as one query, every meter's aggregation of the period the
 * bill needs: per customer and `group_by` value, the meter's events filtered by
 * type and `where`, summed, counted, maxed or distinct-counted. It runs the query
 * twice: reading the JSON properties, and over a table with every property the
 * meters read extracted into typed columns (DuckDB's best case). Only the
 * queries are compared with the bill; the loads are reported beside them.
 */
import type { CompiledMeter } from "../src/engine/core/model.js";

export interface DuckdbReference {
  loadSeconds: number;
  /** The aggregation reading properties from the JSON column, as the events table keeps them. */
  querySeconds: number;
  /** Extracting every property the meters read into typed columns (once, not timed in the query). */
  typedLoadSeconds: number;
  /** The same aggregation over the typed columns: DuckDB's best case. */
  typedQuerySeconds: number;
  rows: number;
  threads: number;
}

type DuckModule = {
  DuckDBInstance: {
    create(
      path: string,
      options?: Record<string, string>,
    ): Promise<{
      connect(): Promise<{
        run(sql: string): Promise<unknown>;
        runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
        closeSync?(): void;
      }>;
      closeSync?(): void;
    }>;
  };
};

async function loadDuckdb(): Promise<DuckModule | null> {
  try {
    return (await import(process.env.BENCH_DUCKDB_MODULE ?? "@duckdb/node-api")) as DuckModule;
  } catch {
    return null;
  }
}

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** How a query reads a property: from the JSON column, or from a typed column extracted at load. */
interface Columns {
  text(name: string): string;
  number(name: string): string;
}

const fromJson: Columns = {
  text: (name) => `(properties->>${quote(name)})`,
  number: (name) => `TRY_CAST(properties->>${quote(name)} AS DOUBLE)`,
};

const column = (name: string, kind: "t" | "n") => `"${kind}_${name.replaceAll('"', '""')}"`;
const typed: Columns = { text: (name) => column(name, "t"), number: (name) => column(name, "n") };

/** One meter's aggregation as DuckDB SQL, or null for an aggregation the reference does not write. */
function meterQuery(m: CompiledMeter, cols: Columns, table: string, from: string, to: string): string | null {
  const value = m.property === null ? "NULL" : cols.number(m.property);
  const agg: Record<string, string> = {
    sum: `SUM(${value})`,
    count: "COUNT(*)",
    max: `MAX(${value})`,
    unique_count: m.property === null ? "" : `COUNT(DISTINCT ${cols.text(m.property)})`,
    latest: `arg_max(${value}, timestamp)`,
  };
  const aggregate = agg[m.aggregation];
  if (!aggregate) return null;
  const where = [`type IN (${m.events.map(quote).join(", ")})`, `timestamp >= ${from}`, `timestamp < ${to}`];
  for (const [k, values] of Object.entries(m.where)) {
    where.push(`${cols.text(k)} IN (${values.map((x) => quote(String(x))).join(", ")})`);
  }
  const group = m.groupBy.map(cols.text);
  const key = group.length === 0 ? "''" : `concat_ws('|', ${group.join(", ")})`;
  return `SELECT ${quote(m.id)} AS meter, customer, ${key} AS grp, CAST(${aggregate} AS DOUBLE) AS value
    FROM ${table} WHERE ${where.join(" AND ")} GROUP BY customer, grp`;
}

export async function duckdbReference(
  ndjson: string,
  meters: Record<string, CompiledMeter>,
  period: { from: Date; to: Date },
  log: (line: string) => void,
): Promise<DuckdbReference | null> {
  const duck = await loadDuckdb();
  if (!duck) {
    log("DuckDB reference skipped: `npm i --no-save @duckdb/node-api` to include it");
    return null;
  }
  const db = await duck.DuckDBInstance.create(":memory:");
  const c = await db.connect();
  let t = performance.now();
  await c.run(
    `CREATE TABLE events AS SELECT * FROM read_ndjson(${quote(ndjson)}, columns = {id: 'VARCHAR', type: 'VARCHAR', customer: 'VARCHAR', timestamp: 'TIMESTAMPTZ', properties: 'JSON'})`,
  );
  const loadSeconds = (performance.now() - t) / 1000;
  const from = `TIMESTAMPTZ ${quote(period.from.toISOString())}`;
  const to = `TIMESTAMPTZ ${quote(period.to.toISOString())}`;
  const all = Object.values(meters);
  const query = (cols: Columns, table: string) =>
    all
      .map((m) => meterQuery(m, cols, table, from, to))
      .filter((q): q is string => q !== null)
      .join("\nUNION ALL\n");
  const threads = Number((await c.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]?.[0]);
  t = performance.now();
  const rows = (await c.runAndReadAll(query(fromJson, "events"))).getRows().length;
  const querySeconds = (performance.now() - t) / 1000;

  const texts = new Set(
    all.flatMap((m) => [...m.groupBy, ...Object.keys(m.where), ...(m.property ? [m.property] : [])]),
  );
  const numbers = new Set(all.flatMap((m) => (m.property ? [m.property] : [])));
  const extracted = [
    ...[...texts].map((p) => `${fromJson.text(p)} AS ${typed.text(p)}`),
    ...[...numbers].map((p) => `${fromJson.number(p)} AS ${typed.number(p)}`),
  ];
  t = performance.now();
  await c.run(`CREATE TABLE typed AS SELECT customer, type, timestamp, ${extracted.join(", ")} FROM events`);
  const typedLoadSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const typedRows = (await c.runAndReadAll(query(typed, "typed"))).getRows().length;
  const typedQuerySeconds = (performance.now() - t) / 1000;
  if (typedRows !== rows) throw new Error(`DuckDB: ${typedRows} rows from typed columns, ${rows} from JSON`);
  c.closeSync?.();
  db.closeSync?.();
  log(
    `DuckDB (${threads} threads): load ${loadSeconds.toFixed(2)}s, aggregation ${querySeconds.toFixed(2)}s; ` +
      `typed columns ${typedLoadSeconds.toFixed(2)}s, aggregation ${typedQuerySeconds.toFixed(2)}s; ${rows} rows`,
  );
  return { loadSeconds, querySeconds, typedLoadSeconds, typedQuerySeconds, rows, threads };
}
