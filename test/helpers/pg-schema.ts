import { randomBytes } from "node:crypto";
import pg from "pg";

/** The test server (trust auth); LIMITR_TEST_PG overrides it. */
export const PG_BASE = process.env.LIMITR_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * A private schema per test file, so parallel suites never share tables:
 * `url` points a store at it (`?schema=`); `drop` removes it and all it holds.
 */
export function pgSchema(prefix = "limitr_test"): { name: string; url: string; drop: () => Promise<void> } {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  return {
    name,
    url: `${PG_BASE}?schema=${name}`,
    async drop() {
      await pgQuery(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    },
  };
}

/** One statement on the test server (optionally inside a schema). */
export async function pgQuery<T extends pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  schema?: string,
): Promise<T[]> {
  const client = new pg.Client({
    connectionString: PG_BASE,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
