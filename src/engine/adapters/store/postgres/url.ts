import { UsageError } from "../../../core/errors.js";

/** `postgres://` and `postgresql://` locations name the shared store; anything else is a SQLite path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL as messages show it: never the password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]*):[^@/]*@/, "://$1:***@");
  }
}

export interface PgLocation {
  connectionString: string;
  /** The schema the store lives in (`?schema=NAME`), else the server's search_path. */
  schema: string | null;
  display: string;
}

/**
 * `?schema=NAME` puts the store in its own schema (several stores in one
 * database: environments, or parallel test runs); the rest of the URL goes
 * to the driver as it is.
 */
export function parseLocation(url: string): PgLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--db ${redactUrl(url)}: not a valid postgres:// URL`);
  }
  const schema = u.searchParams.get("schema");
  u.searchParams.delete("schema");
  if (schema !== null && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new UsageError(`--db ${redactUrl(url)}: schema "${schema}" must be a plain identifier`);
  }
  return { connectionString: u.toString(), schema, display: redactUrl(url) };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
