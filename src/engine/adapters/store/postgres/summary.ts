import type { StoreSummary } from "../store-summary.js";
import { createPool, storeError } from "./connection.js";
import { PG_SCHEMA_VERSION } from "./migrations.js";
import { parseLocation } from "./url.js";

/** `limitr status` on the shared store: counts and the time range; never creates or migrates the schema. */
export async function summarizePostgres(url: string): Promise<StoreSummary> {
  const location = parseLocation(url);
  const empty: StoreSummary = {
    path: location.display,
    exists: false,
    schemaVersion: null,
    currentSchemaVersion: PG_SCHEMA_VERSION,
    events: 0,
    firstEvent: null,
    lastEvent: null,
    customers: 0,
    subscriptions: 0,
  };
  const pool = createPool(location);
  try {
    const found = await pool.query<{ t: string | null }>(
      "SELECT to_regclass('limitr_migrations')::text AS t",
    );
    if (!found.rows[0]?.t) return empty;
    const version = await pool.query<{ v: number }>("SELECT MAX(version) AS v FROM limitr_migrations");
    const events = await pool.query<{ n: number; first: number | null; last: number | null }>(
      "SELECT COUNT(*) AS n, MIN(ts) AS first, MAX(ts) AS last FROM events",
    );
    const people = await pool.query<{ customers: number; subscriptions: number }>(
      `SELECT (SELECT COUNT(*) FROM (SELECT customer FROM events UNION SELECT customer FROM subscriptions) c) AS customers,
              (SELECT COUNT(*) FROM subscriptions) AS subscriptions`,
    );
    const e = events.rows[0];
    return {
      ...empty,
      exists: true,
      schemaVersion: version.rows[0]?.v ?? null,
      events: e?.n ?? 0,
      firstEvent: e?.first ?? null,
      lastEvent: e?.last ?? null,
      customers: people.rows[0]?.customers ?? 0,
      subscriptions: people.rows[0]?.subscriptions ?? 0,
    };
  } catch (err) {
    throw storeError(location.display, err, "read");
  } finally {
    await pool.end().catch(() => {});
  }
}
