import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { openDatabase, SCHEMA_VERSION } from "./database.js";
import { isPostgresUrl } from "./postgres/url.js";

/** What a usage store holds, for `limitr status`: counts and the time range, never the events. */
export interface StoreSummary {
  path: string;
  exists: boolean;
  /** `user_version` of the file, and the one this limitr writes. */
  schemaVersion: number | null;
  currentSchemaVersion: number;
  events: number;
  /** First and last event times (epoch ms), null when there are none. */
  firstEvent: number | null;
  lastEvent: number | null;
  /** Customers with events or a recorded plan. */
  customers: number;
  subscriptions: number;
}

export function summarizeStore(path: string): StoreSummary {
  const empty: StoreSummary = {
    path,
    exists: false,
    schemaVersion: null,
    currentSchemaVersion: SCHEMA_VERSION,
    events: 0,
    firstEvent: null,
    lastEvent: null,
    customers: 0,
    subscriptions: 0,
  };
  // Looking must not create a store, nor migrate one an older limitr still uses.
  if (!existsSync(path)) return empty;
  const db = openDatabase(path, { readonly: true });
  try {
    const events = db
      .prepare("SELECT COUNT(*) AS n, MIN(ts) AS first, MAX(ts) AS last FROM events")
      .get() as {
      n: number;
      first: number | null;
      last: number | null;
    };
    const customers = db
      .prepare("SELECT COUNT(*) FROM (SELECT customer FROM events UNION SELECT customer FROM subscriptions)")
      .pluck()
      .get() as number;
    const subscriptions = db.prepare("SELECT COUNT(*) FROM subscriptions").pluck().get() as number;
    return {
      ...empty,
      exists: true,
      schemaVersion: db.pragma("user_version", { simple: true }) as number,
      events: events.n,
      firstEvent: events.first,
      lastEvent: events.last,
      customers,
      subscriptions,
    };
  } finally {
    db.close();
  }
}

/** The summary of the store a `--db` names: a SQLite file, or the shared store at a postgres:// URL. */
export async function summarizeUsageStore(location: string, cwd: string): Promise<StoreSummary> {
  if (isPostgresUrl(location)) {
    const { summarizePostgres } = await import("./postgres/summary.js");
    return summarizePostgres(location);
  }
  return summarizeStore(resolve(cwd, location));
}
