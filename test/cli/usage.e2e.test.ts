import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";
import { BIN, limitr, REPO } from "./run-cli.js";

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "limitr-usage-"));
  db = join(dir, "usage.db");
});

const run = (...args: string[]) => limitr(["--db", db, ...args]);
const countEvents = () => {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
  } finally {
    d.close();
  }
};

const ndjson = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;

describe("usage import", () => {
  it("imports NDJSON, gzipped NDJSON and CSV with properties columns; R13 a second import counts nothing twice", async () => {
    const a = join(dir, "a.ndjson");
    writeFileSync(
      a,
      ndjson([
        { id: "e1", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z" },
        { id: "e2", type: "api.request", customer: "c1", timestamp: 1790935200000 },
      ]),
    );
    const b = join(dir, "b.ndjson.gz");
    writeFileSync(
      b,
      gzipSync(
        ndjson([
          {
            id: "e3",
            type: "llm.completion",
            customer: "c1",
            timestamp: "2026-10-03T09:00",
            properties: { model: "gpt-4o", input_tokens: 1200, output_tokens: 30 },
          },
        ]),
      ),
    );
    const c = join(dir, "c.csv");
    writeFileSync(
      c,
      "id,type,customer,timestamp,properties.model,properties.input_tokens,properties.output_tokens\n" +
        "e4,llm.completion,c1,2026-10-04T12:00:00-04:00,gpt-4o,800,70\n" +
        "e1,api.request,c1,2026-10-02T10:00:00Z,,,\n",
    );
    const first = await run("usage", "import", a, b, c, "--format", "json");
    expect(first.exitCode).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect([summary.imported, summary.duplicates, summary.skipped]).toEqual([4, 1, 0]);

    const again = JSON.parse((await run("usage", "import", a, b, c, "--format", "json")).stdout);
    expect([again.imported, again.duplicates]).toEqual([0, 5]);
    expect(countEvents()).toBe(4);

    const q = await run(
      "usage",
      "query",
      "--period",
      "2026-10",
      "--meter",
      "input_tokens",
      "--format",
      "json",
    );
    expect(JSON.parse(q.stdout).rows).toEqual([
      { meter: "input_tokens", customer: "c1", value: "2000", events: 2 },
    ]);
  });

  it("reports bad rows as file:line: reason, skips and counts them", async () => {
    const f = join(dir, "bad.ndjson");
    writeFileSync(
      f,
      ndjson([
        { id: "ok1", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z" },
        { type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z" },
        { id: "x2", type: "api.request", customer: "c1", timestamp: "yesterday" },
        { id: "x3", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z", value: "ten" },
        { id: "x4", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z", colour: "red" },
        { id: "x5", type: "api.request", timestamp: "2026-10-02T10:00:00Z" },
      ]),
    );
    const r = await run("usage", "import", f, "--format", "json");
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: 1, skipped: 5 });
    expect(r.stderr).toContain(`${f}:2: missing id`);
    expect(r.stderr).toContain(`${f}:3: bad timestamp "yesterday"`);
    expect(r.stderr).toContain(`${f}:4: non-numeric value "ten"`);
    expect(r.stderr).toContain(`${f}:5: unknown field "colour"`);
    expect(r.stderr).toContain(`${f}:6: missing customer`);
  });

  it("--strict refuses the whole import and writes nothing", async () => {
    const good = join(dir, "good.ndjson");
    writeFileSync(
      good,
      ndjson([{ id: "g1", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z" }]),
    );
    const csv = join(dir, "bad.csv");
    writeFileSync(csv, "id,type,customer,timestamp,colour\ne9,api.request,c1,2026-10-02T10:00:00Z,red\n");
    const r = await run("usage", "import", good, csv, "--strict");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${csv}:2: unknown column "colour"`);
    expect(r.stderr).toContain("nothing was imported");
    expect(countEvents()).toBe(0);
  });

  it("an unreadable or unknown file is refused before anything is written", async () => {
    const good = join(dir, "good.ndjson");
    writeFileSync(
      good,
      ndjson([{ id: "g1", type: "api.request", customer: "c1", timestamp: "2026-10-02T10:00:00Z" }]),
    );
    const missing = await run("usage", "import", good, join(dir, "missing.ndjson"));
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("cannot read");
    const unknown = await run("usage", "import", good, join(dir, "events.txt"));
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain("unknown usage file type");
    // Not even the store: the files are checked before it is created.
    expect(existsSync(db)).toBe(false);
  });

  it("a killed import keeps whole batches only; a re-run completes it without duplicates", async () => {
    const file = join(dir, "big.ndjson");
    await execa(
      process.execPath,
      ["--import", "tsx", "scripts/gen-usage.ts", "--events", "200000", "--seed", "7", "--out", file],
      {
        cwd: REPO,
      },
    );
    const child = execa(
      process.execPath,
      [BIN, "--db", db, "usage", "import", file, "--batch-size", "5000"],
      {
        cwd: REPO,
        reject: false,
      },
    );
    // Kill as soon as some batches are committed.
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        if (countEvents() > 0) break;
      } catch {
        // the store is not created yet
      }
    }
    child.kill("SIGKILL");
    await child;
    const partial = countEvents();
    expect(partial % 5000).toBe(0);
    expect(partial).toBeLessThan(200_000);
    const rerun = await run("usage", "import", file, "--format", "json");
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      imported: 200_000 - partial,
      duplicates: partial,
      skipped: 0,
    });
    expect(countEvents()).toBe(200_000);
  });
});

describe("usage query", () => {
  it("applies the meter's where filter and aggregation, grouped by customer, day or property", async () => {
    const f = join(dir, "q.ndjson");
    writeFileSync(
      f,
      ndjson([
        {
          id: "m1",
          type: "mcp.tool_call",
          customer: "a",
          timestamp: "2026-10-01T12:00:00Z",
          properties: { tool: "web_search" },
        },
        {
          id: "m2",
          type: "mcp.tool_call",
          customer: "a",
          timestamp: "2026-10-02T12:00:00Z",
          properties: { tool: "news_search" },
        },
        {
          id: "m3",
          type: "mcp.tool_call",
          customer: "a",
          timestamp: "2026-10-02T13:00:00Z",
          properties: { tool: "code_exec" },
        },
        {
          id: "m4",
          type: "mcp.tool_call",
          customer: "b",
          timestamp: "2026-10-02T14:00:00Z",
          properties: { tool: "web_search" },
        },
        {
          id: "s1",
          type: "seat.active",
          customer: "a",
          timestamp: "2026-10-01T12:00:00Z",
          properties: { user_id: "u1" },
        },
        {
          id: "s2",
          type: "seat.active",
          customer: "a",
          timestamp: "2026-10-02T12:00:00Z",
          properties: { user_id: "u1" },
        },
        {
          id: "s3",
          type: "seat.active",
          customer: "a",
          timestamp: "2026-10-02T12:00:00Z",
          properties: { user_id: "u2" },
        },
        // Outside October in New York (Oct 1, 03:00 UTC is Sep 30, 23:00 EDT).
        {
          id: "m5",
          type: "mcp.tool_call",
          customer: "a",
          timestamp: "2026-10-01T03:00:00Z",
          properties: { tool: "web_search" },
        },
      ]),
    );
    await run("usage", "import", f);
    const q = async (...args: string[]) =>
      JSON.parse((await run("usage", "query", "--period", "2026-10", "--format", "json", ...args)).stdout)
        .rows;
    expect(await q("--meter", "mcp_search")).toEqual([
      { meter: "mcp_search", customer: "a", value: "2", events: 2 },
      { meter: "mcp_search", customer: "b", value: "1", events: 1 },
    ]);
    expect(await q("--meter", "mcp_calls", "--group-by", "tool")).toEqual([
      { meter: "mcp_calls", tool: "code_exec", value: "1", events: 1 },
      { meter: "mcp_calls", tool: "news_search", value: "1", events: 1 },
      { meter: "mcp_calls", tool: "web_search", value: "2", events: 2 },
    ]);
    expect(await q("--meter", "seats", "--group-by", "day", "--customer", "a")).toEqual([
      { meter: "seats", day: "2026-10-01", value: "1", events: 1 },
      { meter: "seats", day: "2026-10-02", value: "2", events: 2 },
    ]);
    expect(await q("--meter", "seats", "--group-by", "meter")).toEqual([
      { meter: "seats", value: "2", events: 3 },
    ]);
  });
});

describe("usage query aggregations", () => {
  it("max, latest and a fractional sum, in the policy timezone", async () => {
    const policies = join(dir, "policies");
    mkdirSync(policies);
    writeFileSync(
      join(policies, "limitr.yaml"),
      [
        "limitr: 1",
        "name: agg",
        "timezone: Europe/Paris",
        "meters:",
        "  peak: { event: gauge, aggregation: max, property: level }",
        "  last: { event: gauge, aggregation: latest, property: level }",
        "  storage: { event: storage, aggregation: sum, property: gb }",
        "plans:",
        "  base: { default: true, price: 0, entitlements: {} }",
        "",
      ].join("\n"),
    );
    const f = join(dir, "agg.ndjson");
    writeFileSync(
      f,
      ndjson([
        { id: "1", type: "gauge", customer: "a", timestamp: "2026-10-03T10:00:00", properties: { level: 7 } },
        { id: "2", type: "gauge", customer: "a", timestamp: "2026-10-02T10:00:00", properties: { level: 9 } },
        { id: "3", type: "gauge", customer: "a", timestamp: "2026-10-04T10:00:00", properties: { level: 4 } },
        {
          id: "4",
          type: "storage",
          customer: "a",
          timestamp: "2026-10-04T10:00:00",
          properties: { gb: 0.1 },
        },
        {
          id: "5",
          type: "storage",
          customer: "a",
          timestamp: "2026-10-05T10:00:00",
          properties: { gb: 0.2 },
        },
        // Sep 30, 23:30 in Paris: outside October there.
        {
          id: "6",
          type: "storage",
          customer: "a",
          timestamp: "2026-09-30T23:30:00",
          properties: { gb: 100 },
        },
      ]),
    );
    const p = ["--policies", policies];
    expect((await run(...p, "usage", "import", f)).exitCode).toBe(0);
    const rows = JSON.parse(
      (await run(...p, "usage", "query", "--period", "2026-10", "--format", "json")).stdout,
    ).rows;
    expect(rows).toEqual([
      { meter: "last", customer: "a", value: "4", events: 3 }, // the latest timestamp, not the last row
      { meter: "peak", customer: "a", value: "9", events: 3 },
      { meter: "storage", customer: "a", value: "0.3", events: 2 }, // fractional sums rounded to 9 places
    ]);
  });
});
