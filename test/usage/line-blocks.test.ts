import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { lineBlocks } from "../../src/cli/adapters/usage-files/line-blocks.js";

const dir = mkdtempSync(join(tmpdir(), "limitr-line-blocks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function read(path: string) {
  let text = "";
  const bad: number[] = [];
  /** Each block's firstLine against 1 + the newlines of the blocks before it. */
  const firstLines: [number, number][] = [];
  for await (const block of lineBlocks(path)) {
    firstLines.push([block.firstLine, 1 + (text.match(/\n/g)?.length ?? 0)]);
    text += block.text;
    if (block.bad) bad.push(...block.bad);
  }
  return { text, bad, firstLines };
}

describe("usage files as lines of strict UTF-8", () => {
  // Lines longer than a read (1 MiB) of two- and three-byte characters: reads split characters.
  const lines = ["é".repeat(700_000), "x", "€".repeat(400_001), "ü", ""];
  const content = `${lines.join("\n")}`;

  for (const gz of [false, true]) {
    it(`characters split across reads are whole again${gz ? " (gzipped)" : ""}; block line numbers add up`, async () => {
      const path = join(dir, gz ? "long.ndjson.gz" : "long.ndjson");
      writeFileSync(path, gz ? gzipSync(content) : content);
      const r = await read(path);
      expect(r.bad).toEqual([]);
      expect(r.text).toBe(content);
      expect(r.firstLines.length).toBeGreaterThan(1);
      for (const [got, counted] of r.firstLines) expect(got).toBe(counted);
    });
  }

  it("a byte-order mark is dropped; an invalid byte inside a long line marks that line only", async () => {
    const path = join(dir, "bad.ndjson");
    const long = Buffer.from("a".repeat(1_500_000));
    long[1_200_000] = 0xff;
    writeFileSync(
      path,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("one\n"), long, Buffer.from("\nthree\n")]),
    );
    const r = await read(path);
    expect(r.bad).toEqual([2]);
    expect(r.text.startsWith("one\n")).toBe(true);
    expect(r.text.endsWith("\nthree\n")).toBe(true);
  });
});
