import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { type RawRecord, readCsv } from "../../src/cli/adapters/usage-files/read-events.js";

/**
 * CSV blocks without quotes or carriage returns are split in place instead of
 * through csv-parse: the records, line numbers, problems and errors must be
 * the ones csv-parse alone gives, over files of many blocks mixing both kinds.
 */
const dir = mkdtempSync(join(tmpdir(), "limitr-read-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function read(path: string, plainBlocks: boolean) {
  const records: RawRecord[] = [];
  let error: string | null = null;
  const stats = { plainBlocks: 0 };
  try {
    for await (const batch of readCsv(path, { plainBlocks, stats })) records.push(...batch);
  } catch (err) {
    error = (err as Error).message;
  }
  return { records, error, plainBlocks: stats.plainBlocks };
}

const HEADER = "id,type,customer,timestamp,value,properties.model,properties.tokens";

function rows(n: number, variant: (i: number) => string | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      variant(i) ??
        `e${i},api.call,cust-${i % 13},2026-10-05T10:00:00Z,${i % 3 === 0 ? "" : i},m${i % 4},${i * 7}`,
    );
  }
  return out;
}

const cases: [string, () => Buffer | string][] = [
  [
    "plain rows with a quoted region, wrong column counts and empty lines",
    () =>
      [
        HEADER,
        ...rows(40_000, (i) =>
          i % 9973 === 0
            ? ""
            : i % 7919 === 0
              ? `short${i},x`
              : i >= 6_000 && i < 6_050
                ? `q${i},api.call,c,2026-10-05T10:00:00Z,1,"a ""quoted"", model",${i}`
                : null,
        ),
      ].join("\n"),
  ],
  [
    "a quoted field spanning lines across a block boundary",
    () => {
      const head = [HEADER, ...rows(5_000, () => null)].join("\n");
      return `${head}\nspan,api.call,c,2026-10-05T10:00:00Z,1,"line one\n${"x".repeat(300_000)}\nline three",5\n${rows(5_000, () => null).join("\n")}\n`;
    },
  ],
  ["CRLF line ends", () => [HEADER, ...rows(12_000, () => null)].join("\r\n")],
  [
    "invalid UTF-8 in later blocks",
    () => {
      const text = [
        HEADER,
        ...rows(12_000, (i) => (i % 3_001 === 0 && i > 0 ? `bad${i},t,c,X,1,m,1` : null)),
      ].join("\n");
      const b = Buffer.from(text);
      for (let at = b.indexOf("X,1,m,1"); at >= 0; at = b.indexOf("X,1,m,1", at + 1)) b[at] = 0xff;
      return b;
    },
  ],
  [
    "an unclosed quote late in the file",
    () =>
      `${[HEADER, ...rows(12_000, () => null)].join("\n")}\nbroken,api.call,c,2026-10-05T10:00:00Z,1,"never closed,1\n${rows(100, () => null).join("\n")}\n`,
  ],
  [
    "a quote inside an unquoted field, late in the file",
    () =>
      `${[HEADER, ...rows(12_000, () => null)].join("\n")}\nodd,api.call,c,2026-10-05T10:00:00Z,1,ab"c,1\n${rows(100, () => null).join("\n")}\n`,
  ],
  ["a bad header", () => [HEADER.replace("value", "amount"), ...rows(12_000, () => null)].join("\n")],
];

describe("CSV blocks split in place agree with csv-parse", () => {
  for (const [what, make] of cases) {
    // Gunzipped blocks are 256 KiB: many blocks per file. One case also as plain text (1 MiB reads).
    for (const gz of what.startsWith("plain rows") ? [false, true] : [true]) {
      it(`${what}${gz ? " (gzipped)" : ""}`, async () => {
        const path = join(dir, `${what.replace(/\W+/g, "-")}.csv${gz ? ".gz" : ""}`);
        const content = make();
        writeFileSync(path, gz ? gzipSync(content) : content);
        const fast = await read(path, true);
        const parser = await read(path, false);
        expect(fast.error).toBe(parser.error);
        expect(fast.records.length).toBe(parser.records.length);
        expect(fast.records).toEqual(parser.records);
        expect(fast.records.length + (fast.error ? 1 : 0)).toBeGreaterThan(0);
        expect(parser.plainBlocks).toBe(0);
        // CRLF files always go through csv-parse; the others mix both readers.
        if (what.startsWith("CRLF")) expect(fast.plainBlocks).toBe(0);
        else expect(fast.plainBlocks).toBeGreaterThan(0);
      });
    }
  }
});
