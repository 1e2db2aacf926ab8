/**
 * The baseline of `usage import`: the import script anyone would write first.
 * Stream the file through gunzip, split lines (readline), JSON.parse each one,
 * and insert the rows with one prepared single-row INSERT, 5,000 rows a
 * transaction, into a store of the same schema (opened the way limitr opens
 * it, with the same page cache). No validation beyond Date.parse of the
 * timestamp; properties are stored as JSON.stringify of the parsed object.
 * Returns the rows inserted.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import type { Db } from "../src/engine/adapters/store/database.js";

interface Line {
  id: string;
  type: string;
  customer: string;
  timestamp: string;
  value?: number | null;
  properties?: unknown;
}

export async function plainImport(file: string, db: Db): Promise<number> {
  db.pragma("cache_size = -65536");
  const insert = db.prepare(
    "INSERT OR IGNORE INTO events (id, type, customer, ts, value, properties) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const write = db.transaction((rows: Line[]) => {
    for (const r of rows) {
      const props = r.properties === undefined || r.properties === null ? null : JSON.stringify(r.properties);
      insert.run(r.id, r.type, r.customer, Date.parse(r.timestamp), r.value ?? null, props);
    }
  });
  let input: Readable = createReadStream(file);
  if (file.endsWith(".gz")) input = input.pipe(createGunzip());
  let rows: Line[] = [];
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line === "") continue;
    rows.push(JSON.parse(line) as Line);
    if (rows.length === 5000) {
      write(rows);
      n += rows.length;
      rows = [];
    }
  }
  write(rows);
  return n + rows.length;
}
