import { createHash } from "node:crypto";
import type pg from "pg";
import type { CompiledMeter, CompiledPolicy } from "../../../core/model.js";
import { isoDate, LIFETIME, startOfDate, type Window } from "../../../core/periods.js";
import type { AggregateRow, AggregateSpec } from "../../../core/usage/store-port.js";
import type { DayCell } from "../bill-usage.js";
import type { Layout } from "./layouts.js";
import { meterFingerprint, type RollupDefinition, rollupDefinition } from "./rollup-def.js";
import { COUNT_WEIGHT, lit, prop, whereConditions } from "./sql.js";

/**
 * Rollups: each registered meter fingerprint's figures per (customer, day in
 * the fingerprint's timezone, cost dimension value), kept in `rollups` (and
 * the distinct values of a unique_count meter in `rollup_values`), so `bill`
 * and day-aligned `usage query` / `alerts check` read a few rows per
 * customer and day instead of every event.
 *
 * - Kept at write: every insert of events (`usage import`'s COPY batches, the
 *   engine's write-behind) is `INSERT ... ON CONFLICT (id) DO NOTHING
 *   RETURNING` and folds only the rows it returned into every registered
 *   fingerprint, in the same statement: an event is counted once however
 *   often it is imported, late or replayed (R13).
 * - Exact under concurrency: the folds are upserts whose merges are
 *   commutative (sums, counts, the greater of two maxima, the latest by (ts,
 *   seq), a set of distinct values), and ON CONFLICT DO UPDATE merges into
 *   the committed row, so two importers at once add up as one.
 * - Registered on first read: a reader whose fingerprints are unknown builds
 *   them with one GROUP BY over the events, holding the rollup lock
 *   exclusively; writers hold it shared from before they read the
 *   registered fingerprints to their commit, so no event is both missed by
 *   the build and by the fold.
 * - Not kept: time_weighted meters (they integrate readings across days and
 *   need the reading before the period); those are read from the events.
 */

/** The advisory lock of a schema's rollups: writers share it, a build holds it alone. */
const LOCK = "hashtext('limitr_rollups:' || current_schema())";

/** A meter's rollup, by its fingerprint. */
export interface Rollup {
  fp: string;
  definition: RollupDefinition;
}

export function rollupOf(meter: CompiledMeter, zone: string): Rollup {
  return { fp: meterFingerprint(meter, zone), definition: rollupDefinition(meter, zone) };
}

/** Meters whose daily figures a rollup holds (all but time_weighted). */
export function rolledUp(meter: CompiledMeter): boolean {
  return meter.aggregation !== "time_weighted";
}

/** The meter a stored definition describes (what the fold's SQL needs). */
function meterOf(d: RollupDefinition): CompiledMeter {
  return {
    id: "",
    description: null,
    unit: null,
    events: d.events,
    aggregation: d.aggregation,
    property: d.property,
    where: Object.fromEntries(d.where.map(([k, v]) => [k, [...v]])),
    groupBy: [],
    cost: d.dimension ? { by: d.dimension, rates: {}, default: null } : null,
  };
}

/** The events' columns every fold reads (and `properties`, or the columns extracted from it). */
const FOLDED = ["seq", "type", "customer", "ts", "value"];
const EXTRACTED = ["n1", "n2", "n3", "n4", "t1", "t2"];

/**
 * Rows of `relation` with `day`, the calendar date of their ts (epoch ms) in
 * the zone: computed once per row and zone, however many rollups read it.
 */
function withDay(relation: string, zone: string, columns: string, where = ""): string {
  return `SELECT ${columns}, ((timestamptz 'epoch' + ts * interval '1 millisecond') AT TIME ZONE ${lit(zone)})::date AS day FROM ${relation}${where}`;
}

/**
 * A property of rows of `types` as the fold reads it: from the column the
 * same statement's insert extracted it to (`columns`: the insert's layouts,
 * one per type), else from the JSON; both hold what `limitr_numeric` /
 * `limitr_text` read, so the fold's figures are the same either way. Only
 * rows of `types` may read it (other types read NULL).
 */
function extracted(
  columns: readonly Layout[],
  types: readonly string[],
  field: "numbers" | "texts",
  property: string,
): string {
  const json = `${field === "numbers" ? "limitr_numeric" : "limitr_text"}(${prop(property)})`;
  const per = types.map((type) => {
    const i = columns.find((l) => l.type === type)?.[field].indexOf(property) ?? -1;
    return [type, i >= 0 ? `${field === "numbers" ? "n" : "t"}${i + 1}` : json] as const;
  });
  const first = per[0]?.[1] ?? json;
  if (per.every(([, e]) => e === first)) return first;
  return `(CASE type ${per.map(([type, e]) => `WHEN ${lit(type)} THEN ${e}`).join(" ")} END)`;
}

/**
 * The statements folding the rows of `source` (a relation with seq, type,
 * customer, ts, value, properties and `day`, the date of ts in the rollup's
 * timezone: see `withDay`) into one rollup: an upsert into
 * `rollups`, and for unique_count one into `rollup_values`. Values are read
 * from the JSON with the functions the extracted columns are filled by.
 */
export function foldStatements(r: Rollup, source: string, columns: readonly Layout[] = []): string[] {
  const meter = meterOf(r.definition);
  const fp = lit(r.fp);
  const conds = [`type IN (${meter.events.map(lit).join(", ")})`, ...whereConditions(meter)];
  const read = (field: "numbers" | "texts", property: string) =>
    extracted(columns, meter.events, field, property);
  const v = meter.property ? read("numbers", meter.property) : "value::numeric";
  const dim = r.definition.dimension ? read("texts", r.definition.dimension) : "NULL::text";
  const rows =
    `SELECT seq, customer, ts, day, ${dim} AS dim, ` +
    `${meter.aggregation === "count" ? `${COUNT_WEIGHT}::numeric` : v} AS v` +
    (meter.aggregation === "unique_count"
      ? `, ${meter.property ? read("texts", meter.property) : "value::text"} AS u`
      : "") +
    ` FROM ${source} WHERE ${conds.join(" AND ")}`;
  const order = "ORDER BY ts DESC, seq DESC";
  const valued = "FILTER (WHERE v IS NOT NULL)";
  // Per group: [column, aggregate over the rows, merge with the stored row (r) of `excluded` (x)].
  const cols: [string, string, string][] = [
    ["n", "COUNT(*)", "r.n + excluded.n"],
    ["t", "MAX(ts)", "GREATEST(r.t, excluded.t)"],
  ];
  const newer = "excluded.lt IS NOT NULL AND (r.lt IS NULL OR (excluded.lt, excluded.lseq) > (r.lt, r.lseq))";
  const later = "(excluded.t, excluded.tseq) > (r.t, r.tseq)";
  switch (meter.aggregation) {
    case "sum":
    case "count":
      cols.push(["q", "SUM(v)", "COALESCE(r.q + excluded.q, r.q, excluded.q)"]);
      break;
    case "max":
      cols.push(["q", "MAX(v)", "GREATEST(r.q, excluded.q)"]);
      cols.push(["lt", `MAX(ts) ${valued}`, "GREATEST(r.lt, excluded.lt)"]);
      break;
    case "latest":
      cols.push([
        "q",
        `(array_agg(v ${order}) ${valued})[1]`,
        `CASE WHEN ${newer} THEN excluded.q ELSE r.q END`,
      ]);
      cols.push(["lt", `MAX(ts) ${valued}`, `CASE WHEN ${newer} THEN excluded.lt ELSE r.lt END`]);
      cols.push([
        "lseq",
        `(array_agg(seq ${order}) ${valued})[1]`,
        `CASE WHEN ${newer} THEN excluded.lseq ELSE r.lseq END`,
      ]);
      cols.push([
        "last",
        `(array_agg(v ${order}))[1]`,
        `CASE WHEN ${later} THEN excluded.last ELSE r.last END`,
      ]);
      cols.push([
        "tseq",
        `(array_agg(seq ${order}))[1]`,
        `CASE WHEN ${later} THEN excluded.tseq ELSE r.tseq END`,
      ]);
      break;
    default:
      break;
  }
  const out = [
    `INSERT INTO rollups AS r (fp, customer, day, dim, dim_null, ${cols.map((c) => c[0]).join(", ")}) ` +
      `SELECT ${fp}, customer, day, COALESCE(dim, ''), dim IS NULL, ${cols.map((c) => c[1]).join(", ")} ` +
      `FROM (${rows}) s GROUP BY customer, day, dim ` +
      `ON CONFLICT (fp, day, customer, dim, dim_null) DO UPDATE SET ${cols.map((c) => `${c[0]} = ${c[2]}`).join(", ")}`,
  ];
  if (meter.aggregation === "unique_count") {
    out.push(
      `INSERT INTO rollup_values (fp, customer, day, value) ` +
        `SELECT DISTINCT ${fp}, customer, day, u FROM (${rows}) s WHERE u IS NOT NULL ` +
        "ON CONFLICT DO NOTHING",
    );
  }
  return out;
}

/** An insert's statement folding into a set of registered fingerprints: its text and prepared name. */
export interface Folding {
  text: string;
  name: string;
}

/** Per insert, layouts and set of registered fingerprints (the SQL is the same until one is added). */
const cachedFolds = new Map<string, Folding>();

/**
 * The statements a transaction folding into the rollups starts with (one
 * round trip, each statement with its own snapshot): the rollup lock shared,
 * then the registered rollups (read once the lock is held). For the
 * transaction: no JIT (compiling a large batch's statement costs more than
 * running it), and the folds group by hashing (the planner, expecting few
 * returned rows, would sort them on text keys: measured slower).
 */
export const FOLD_START = `SELECT pg_advisory_xact_lock_shared(${LOCK}), set_config('jit', 'off', true), set_config('enable_sort', 'off', true);
  SELECT fp, definition FROM rollup_defs ORDER BY fp`;

/**
 * The statement running `insert` (an `INSERT INTO events`, with `ON CONFLICT
 * (id) DO NOTHING` unless a unique violation is to roll it back) and folding
 * the rows it inserted into every registered rollup
 * (`defs`, read after FOLD_START's lock), returning how many were inserted as
 * `n`; null when no rollup is registered (the insert alone). `columns` are
 * the layouts the insert extracts with (the folds read those columns instead
 * of the JSON).
 */
export function foldingStatement(
  defs: readonly Rollup[],
  insert: string,
  columns: readonly Layout[] = [],
): Folding | null {
  if (defs.length === 0) return null;
  const key = `${defs.map((d) => d.fp).join(",")}\n${JSON.stringify(columns)}\n${insert}`;
  let folding = cachedFolds.get(key);
  if (!folding) {
    // The inserted rows with their day, once per timezone; then every rollup's fold of them.
    const zones = [...new Set(defs.map((d) => d.definition.zone))];
    const statements = defs.flatMap((d) =>
      foldStatements(d, `d${zones.indexOf(d.definition.zone)}`, columns),
    );
    // The extracted columns the folds read, and the JSON only if one reads it.
    const returned = [
      ...FOLDED,
      ...EXTRACTED.filter((c) => statements.some((f) => new RegExp(`\\b${c}\\b`).test(f))),
      ...(statements.some((f) => f.includes("properties")) ? ["properties"] : []),
    ].join(", ");
    const folds = [
      ...zones.map((z, i) => `d${i} AS MATERIALIZED (${withDay("ins", z, returned)})`),
      ...statements.map((f, i) => `f${i} AS (${f})`),
    ];
    const text = `WITH ins AS (${insert} RETURNING ${returned}), ${folds.join(", ")} SELECT COUNT(*)::int AS n FROM ins`;
    // Prepared once per connection (planning the statement costs more than a small batch's run).
    folding = { text, name: `limitr_fold_${createHash("sha1").update(text).digest("hex")}` };
    if (cachedFolds.size > 64) cachedFolds.clear();
    cachedFolds.set(key, folding);
  }
  return folding;
}

/**
 * Run an `INSERT INTO events ... ON CONFLICT (id) DO NOTHING` (inside the
 * caller's transaction) and fold the rows it inserted into every registered
 * rollup, in one statement. Returns how many rows were inserted.
 */
export async function insertFolding(
  client: pg.PoolClient,
  insert: string,
  params: unknown[] = [],
): Promise<number> {
  const [, defs] = (await client.query(FOLD_START)) as unknown as [pg.QueryResult, pg.QueryResult<Rollup>];
  const folding = foldingStatement(defs.rows, insert);
  if (!folding) return (await client.query(insert, params)).rowCount ?? 0;
  const r = await client.query<{ n: number }>({ ...folding, values: params });
  return r.rows[0]?.n ?? 0;
}

/** Transaction settings of a build or a read: more memory, no JIT (as `aggregate.ts`). */
const SETTINGS =
  "SELECT set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('64MB') THEN '64MB' ELSE current_setting('work_mem') END, true), set_config('jit', 'off', true)";

/**
 * Register the rollups not registered yet and build each from the events
 * (one GROUP BY), alone under the rollup lock; `rebuild` drops and builds
 * them again and drops every other registered rollup (after events were
 * deleted or archived). Concurrent callers build once: the second finds
 * them registered.
 */
export async function ensureRollups(pool: pg.Pool, rollups: Rollup[], rebuild?: "rebuild"): Promise<void> {
  const unique = [...new Map(rollups.map((r) => [r.fp, r])).values()];
  if (unique.length === 0) return;
  const known = async (c: pg.Pool | pg.PoolClient) =>
    new Set(
      (
        await c.query<{ fp: string }>("SELECT fp FROM rollup_defs WHERE fp = ANY($1)", [
          unique.map((r) => r.fp),
        ])
      ).rows.map((r) => r.fp),
    );
  if (!rebuild && (await known(pool)).size === unique.length) return;
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SELECT pg_advisory_xact_lock(${LOCK})`);
    await client.query(SETTINGS);
    if (rebuild) {
      // Every registered rollup goes; the policy's are built again below.
      for (const table of ["rollups", "rollup_values", "rollup_defs"])
        await client.query(`TRUNCATE ${table}`);
    }
    const have = await known(client);
    for (const r of unique) {
      if (have.has(r.fp)) continue;
      const types = `(${r.definition.events.map(lit).join(", ")})`;
      const source = `(${withDay("events", r.definition.zone, [...FOLDED, "properties"].join(", "), ` WHERE type IN ${types}`)}) e`;
      for (const sql of foldStatements(r, source)) await client.query(sql);
      const n = await client.query<{ n: number }>(
        `SELECT COALESCE(SUM(n), 0)::bigint AS n FROM rollups WHERE fp = $1`,
        [r.fp],
      );
      await client.query(
        "INSERT INTO rollup_defs (fp, definition, zone, built_at, built_events) VALUES ($1, $2, $3, $4, $5)",
        [r.fp, JSON.stringify(r.definition), r.definition.zone, Date.now(), n.rows[0]?.n ?? 0],
      );
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** A date in a zone when `ms` is its start (a day boundary), else null. */
function boundary(ms: number, zone: string): string | null {
  const date = isoDate(ms, zone);
  return startOfDate(date, zone) === ms ? date : null;
}

/** Is every day of the period a whole calendar day of the zone (so rollup days are its days)? */
export function dayAligned(period: Window, zone: string): boolean {
  return boundary(period.start, zone) !== null && boundary(period.end, zone) !== null;
}

/**
 * Run reads of the rollups in one snapshot, if every fingerprint in `fps` is
 * registered in it (else null: a rebuild dropped one since it was checked).
 */
async function inSnapshot<T>(
  pool: pg.Pool,
  fps: string[],
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T | null> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ");
    await client.query(SETTINGS);
    const found = await client.query<{ n: number }>(
      "SELECT COUNT(*)::int AS n FROM rollup_defs WHERE fp = ANY($1)",
      [fps],
    );
    const out = found.rows[0]?.n === new Set(fps).size ? await work(client) : null;
    await client.query("COMMIT");
    return out;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * One (fingerprint, customer)'s rollup rows as read by `rollupDays`: its day
 * indexes, dimension values, q, n, t and lt, one array each (JSON text).
 */
type CellColumns = [number[], string[], (number | null)[], number[], number[], (number | null)[]];

/**
 * Daily cells of the meters from their rollups: per meter, customer -> cells
 * by day index of `days` (the period's day starts, whole days in `zone`);
 * null when a rollup is not registered (any more).
 */
export async function rollupDays(
  pool: pg.Pool,
  meters: CompiledMeter[],
  zone: string,
  days: number[],
): Promise<Map<string, Map<string, DayCell[]>> | null> {
  const byFp = new Map<string, CompiledMeter[]>();
  for (const m of meters) {
    const fp = meterFingerprint(m, zone);
    byFp.set(fp, [...(byFp.get(fp) ?? []), m]);
  }
  const fps = [...byFp.keys()];
  const dates = days.map((d) => isoDate(d, zone));
  const params = [fps, dates[0], dates[dates.length - 1]];
  const where = "WHERE fp = ANY($1) AND day >= $2::date AND day <= $3::date";
  // The period's days are consecutive dates: a day's index is its distance from the first.
  const day = "day - $2::date";
  const json = (x: string) => `array_to_json(array_agg(${x}))::text`;
  // One statement (one snapshot, one round trip): a first row with how many of the
  // fingerprints are registered in it, then one row per fingerprint (its index in `fps`) and
  // customer with its cells (kind 1) or distinct values (kind 2) as JSON arrays, one per
  // column: a few hundred rows and one native JSON.parse per column instead of a row and
  // an object per cell.
  const r = await pool.query<[number, number, string | null, ...(string | null)[]]>({
    text: `SELECT 0 AS kind, (SELECT COUNT(*)::int FROM rollup_defs WHERE fp = ANY($1)) AS f, NULL::text AS customer,
         NULL::text AS d, NULL::text AS dim, NULL::text AS q, NULL::text AS n, NULL::text AS t, NULL::text AS lt
       UNION ALL
       SELECT 1, array_position($1, fp) - 1, customer, ${json(day)}, ${json("dim")}, ${json("q")}, ${json("n")}, ${json("t")}, ${json("lt")}
       FROM rollups ${where} GROUP BY fp, customer
       UNION ALL
       SELECT 2, array_position($1, fp) - 1, customer, ${json(day)}, ${json("value")}, NULL, NULL, NULL, NULL
       FROM rollup_values ${where} GROUP BY fp, customer`,
    values: params,
    rowMode: "array",
  });
  const registered = r.rows.find((x) => x[0] === 0)?.[1];
  if (registered !== fps.length) return null;
  const out = new Map<string, Map<string, DayCell[]>>();
  for (const m of meters) out.set(m.id, new Map());
  const perDayOf = (m: CompiledMeter, customer: string): DayCell[] => {
    const cells = out.get(m.id) as Map<string, DayCell[]>;
    let perDay = cells.get(customer);
    if (!perDay) cells.set(customer, (perDay = []));
    return perDay;
  };
  const cellOf = (m: CompiledMeter, perDay: DayCell[], i: number): DayCell =>
    (perDay[i] ??= {
      q: 0,
      n: 0,
      t: Number.NEGATIVE_INFINITY,
      byDim: new Map(),
      values: m.aggregation === "unique_count" ? new Set() : null,
      readings: null,
    });
  const metersOf = fps.map((fp) => byFp.get(fp) ?? []);
  for (const [kind, f, customer, ...columns] of r.rows) {
    if (kind === 0) continue;
    const [d, dims, qs, ns, ts, lts] = columns.map((c) => (c === null ? null : JSON.parse(c))) as CellColumns;
    for (const m of metersOf[f] ?? []) {
      const perDay = perDayOf(m, customer as string);
      if (kind === 2) {
        for (let k = 0; k < d.length; k++) cellOf(m, perDay, d[k] as number).values?.add(dims[k] as string);
        continue;
      }
      const agg = m.aggregation;
      for (let k = 0; k < d.length; k++) {
        const cell = cellOf(m, perDay, d[k] as number);
        cell.n += ns[k] as number;
        if (agg === "unique_count") continue;
        const q = qs[k] as number | null;
        const t = ts[k] as number;
        if (agg === "sum" || agg === "count") {
          if (t > cell.t) cell.t = t;
          if (q === null) continue;
          cell.q += q;
          const dim = dims[k] as string;
          cell.byDim.set(dim, (cell.byDim.get(dim) ?? 0) + q);
        } else {
          // max, latest: one row per day; its time is the latest valued event's, else the latest event's.
          cell.t = lts[k] ?? t;
          cell.q = q ?? 0;
        }
      }
    }
  }
  return out;
}

/** The bucket of each rollup day: the index of the last bucket start on or before it (0 before the first). */
function bucketSql(dates: string[] | null, p: unknown[]): string {
  if (!dates || dates.length <= 1) return "0";
  p.push(dates);
  return `GREATEST(width_bucket(day, $${p.length}::date[]) - 1, 0)`;
}

/**
 * `aggregateMeter` from the meter's rollup when it can answer exactly: a
 * window and buckets of whole days in `zone` (a lifetime edge reads every
 * day), no split or the cost dimension of a sum or count, unique_count's
 * distinct values, once the rollup is registered. Returns null when it cannot
 * (the caller scans the events) or the rollup is not registered (any more).
 *
 * With `distinctValues`, a unique_count's rows are one per distinct value
 * (n 0) and one per customer and bucket with the events (dim null): their
 * sums and value sets are those of the scan's.
 */
export async function rollupAggregate(
  pool: pg.Pool,
  spec: AggregateSpec,
  zone: string,
): Promise<AggregateRow[] | null> {
  const { meter } = spec;
  if (!rolledUp(meter)) return null;
  const unique = meter.aggregation === "unique_count";
  const split = spec.dimension ?? null;
  const byCost =
    split !== null &&
    split === meter.cost?.by &&
    (meter.aggregation === "sum" || meter.aggregation === "count");
  // (A unique_count split by a property is answered by the events: its distinct values are its groups there.)
  if (split !== null && !byCost) return null;
  const from = spec.window.start <= LIFETIME.start ? "" : boundary(spec.window.start, zone);
  const to = spec.window.end >= LIFETIME.end ? "" : boundary(spec.window.end, zone);
  if (from === null || to === null) return null;
  let buckets: string[] | null = null;
  if (spec.buckets && spec.buckets.length > 1) {
    buckets = [];
    for (const b of spec.buckets) {
      const d = boundary(b, zone);
      if (d === null) return null;
      buckets.push(d);
    }
  }
  const r = rollupOf(meter, zone);
  const p: unknown[] = [r.fp];
  const conds = ["fp = $1"];
  if (from) conds.push(`day >= $${p.push(from)}::date`);
  if (to) conds.push(`day < $${p.push(to)}::date`);
  if (spec.customers) conds.push(`customer = ANY($${p.push(spec.customers)}::text[])`);
  const bucket = bucketSql(buckets, p);
  const where = conds.join(" AND ");
  const dim = byCost ? "CASE WHEN dim_null THEN NULL ELSE dim END" : "NULL::text";
  let q: string;
  switch (meter.aggregation) {
    case "sum":
    case "count":
      q = "SUM(q)";
      break;
    case "max":
      q = "MAX(q)";
      break;
    case "latest":
      q = "(array_agg(last ORDER BY t DESC, tseq DESC))[1]";
      break;
    default:
      q = "NULL::numeric";
  }
  return inSnapshot(pool, [r.fp], async (client) => {
    const rows = (
      await client.query<AggregateRow>(
        `SELECT customer, ${bucket} AS bucket, ${dim} AS dim, ${q} AS q, SUM(n)::bigint AS n, MAX(t) AS t
         FROM rollups WHERE ${where} GROUP BY 1, 2, 3`,
        p,
      )
    ).rows;
    if (!unique) return rows;
    if (spec.distinctValues) {
      const values = await client.query<AggregateRow>(
        `SELECT DISTINCT customer, ${bucket} AS bucket, value AS dim, NULL::float8 AS q, 0 AS n, 0 AS t
         FROM rollup_values WHERE ${where}`,
        p,
      );
      return [...rows, ...values.rows];
    }
    const counts = await client.query<{ customer: string; bucket: number; q: number }>(
      `SELECT customer, ${bucket} AS bucket, COUNT(DISTINCT value)::float8 AS q FROM rollup_values WHERE ${where} GROUP BY 1, 2`,
      p,
    );
    const distinct = new Map(counts.rows.map((c) => [`${c.customer}\u0000${c.bucket}`, c.q]));
    return rows.map((row) => ({ ...row, q: distinct.get(`${row.customer}\u0000${row.bucket}`) ?? 0 }));
  });
}

/** The rollups of the policy's meters (those a rollup can hold). */
export function policyRollups(policy: CompiledPolicy): Rollup[] {
  return Object.values(policy.meters)
    .filter(rolledUp)
    .map((m) => rollupOf(m, policy.timezone));
}
