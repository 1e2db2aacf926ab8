import { resolve } from "node:path";
import type { UsageStore } from "../../core/usage/store-port.js";
import { type OpenOptions, openDatabase } from "./database.js";
import { isPostgresUrl } from "./postgres/url.js";
import { SqliteUsageStore } from "./sqlite-usage-store.js";

export { isPostgresUrl };

/**
 * The usage store a `--db` names: a `postgres://` (or `postgresql://`) URL
 * opens the shared store, anything else a SQLite file (relative to `cwd`).
 * The Postgres driver is loaded only when a URL asks for it.
 */
export async function openUsageStore(
  location: string,
  options: OpenOptions & { cwd?: string } = {},
): Promise<UsageStore> {
  if (isPostgresUrl(location)) {
    const { openPostgresStore } = await import("./postgres/store.js");
    return openPostgresStore(location, options);
  }
  const path = location === ":memory:" ? location : resolve(options.cwd ?? ".", location);
  return new SqliteUsageStore(openDatabase(path, options));
}

/** The store location as a message shows it: a resolved path, or the URL without its password. */
export function storeLocation(location: string, cwd: string): string {
  return isPostgresUrl(location) ? location : resolve(cwd, location);
}
