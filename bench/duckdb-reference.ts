/**
 * DuckDB on the same data, as an optional reference for the bill bench.
 *
 * DuckDB is not a dependency: the reference runs when `@duckdb/node-api`
 * resolves (`npm i --no-save @duckdb/node-api`, or BENCH_DUCKDB_MODULE set to
 * its entry file) and is skipped otherwise. It loads the generated NDJSON into
 * an in-memory DuckDB table (properties kept as JSON, as the events table keeps
 * them), then runs, as one query, every meter's aggregation of the period the
 * bill needs: per customer and `group_by` value, the meter's events filtered by
 * type and `where`, summed, counted, maxed or distinct-counted. Only the query
 * is compared with the bill; the load is reported beside it.
 */
import type { CompiledMeter } from "../src/engine/core/model.js";

export interface DuckdbReference {
  loadSeconds: number;
  querySeconds: number;
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
const prop = (name: string) => `(properties->>${quote(name)})`;

/** One meter's aggregation as DuckDB SQL, or null for an aggregation the reference does not write. */
function meterQuery(m: CompiledMeter, from: string, to: string): string | null {
  const value = m.property === null ? "NULL" : `TRY_CAST(${prop(m.property)} AS DOUBLE)`;
  const agg: Record<string, string> = {
    sum: `SUM(${value})`,
    count: "COUNT(*)",
    max: `MAX(${value})`,
    unique_count: m.property === null ? "" : `COUNT(DISTINCT ${prop(m.property)})`,
    latest: `arg_max(${value}, timestamp)`,
  };
  const aggregate = agg[m.aggregation];
  if (!aggregate) return null;
  const where = [`type IN (${m.events.map(quote).join(", ")})`, `timestamp >= ${from}`, `timestamp < ${to}`];
  for (const [k, values] of Object.entries(m.where)) {
    where.push(`${prop(k)} IN (${values.map((x) => quote(String(x))).join(", ")})`);
  }
  const group = m.groupBy.map(prop);
  const key = group.length === 0 ? "''" : `concat_ws('|', ${group.join(", ")})`;
  return `SELECT ${quote(m.id)} AS meter, customer, ${key} AS grp, CAST(${aggregate} AS DOUBLE) AS value
    FROM events WHERE ${where.join(" AND ")} GROUP BY customer, grp`;
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
  const parts = Object.values(meters)
    .map((m) => meterQuery(m, from, to))
    .filter((q): q is string => q !== null);
  const threads = Number((await c.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]?.[0]);
  t = performance.now();
  const rows = (await c.runAndReadAll(parts.join("\nUNION ALL\n"))).getRows().length;
  const querySeconds = (performance.now() - t) / 1000;
  c.closeSync?.();
  db.closeSync?.();
  log(
    `DuckDB: load ${loadSeconds.toFixed(2)}s, ${parts.length} meters' aggregation ${querySeconds.toFixed(2)}s, ${rows} rows, ${threads} threads`,
  );
  return { loadSeconds, querySeconds, rows, threads };
}
