import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { largePolicy } from "../../bench/large-policy.js";
import type { Locations } from "../../src/engine/core/policy/locations.js";
import { parseBySection, splitSections } from "../../src/engine/core/policy/sections.js";
import { type Fragment, parseWhole } from "../../src/engine/core/policy/source.js";

function whole(text: string): Fragment {
  return parseWhole(
    { file: "p.yaml", value: null, locations: new Map(), numbers: new Map(), diagnostics: [] },
    text,
  );
}

/** Locations as plain, ordered data (they compute line and column on demand). */
function plain(locations: Locations) {
  return [...locations]
    .map(([ptr, l]) => [ptr, { file: l.file, value: l.value, key: l.key, style: l.style }] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** Something the split refuses: an alias, a tab, a document marker, a top-level line not starting a key. */
const irregular = (text: string) => /[&*\t]|^(---|\.\.\.|%)|^[^\sA-Za-z0-9_#]/m.test(text);

describe("parsing a policy file section by section", () => {
  const texts: [string, string][] = [
    ["generated", largePolicy({ plans: 30, customers: 40, chain: 20 })],
    ...yamlFiles("fixtures").map((f): [string, string] => [f, readFileSync(f, "utf8")]),
    [
      "comments",
      "# head\n\nlimitr: 1\n# between\ncustomers:\n  # first\n  a: { plan: pro }\n\n  # b\n  b:\n    plan: pro\n",
    ],
    ["quoted ids", "customers:\n  \"a b\": { plan: x }\n  'c': { plan: y }\n"],
    ["block scalar", "plans:\n  pro:\n    description: |\n      two\n      lines\n  free: {}\n"],
  ];

  it.each(texts)("%s: the same data, numbers and locations as the whole document", (_name, text) => {
    const sectioned = parseBySection("p.yaml", text, 64);
    const reference = whole(text);
    if (!sectioned) {
      // Left to the whole parse: only a file the split could misread, or one with problems to report.
      expect(irregular(text) || reference.diagnostics.length > 0, "a regular, valid file parsed whole").toBe(
        true,
      );
      return;
    }
    expect(reference.diagnostics).toEqual([]);
    expect(sectioned.root).toEqual(reference.value);
    expect([...sectioned.numbers].sort()).toEqual([...reference.numbers].sort());
    expect(plain(sectioned.locations)).toEqual(plain(reference.locations));
  });

  it("any corruption of a file either falls back or parses exactly as the whole document", () => {
    const base = largePolicy({ plans: 2, customers: 4, chain: 3 });
    const junk = [
      "",
      "\t",
      ":",
      "- ",
      "  ",
      "&a *a",
      "{",
      "}",
      "'",
      '"',
      "\n  x: [",
      "\n",
      "#",
      "---\n",
      "\n  ",
    ];
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom(...junk), fc.nat({ max: 3 }), (at, insert, cut) => {
        const i = at % (base.length + 1);
        const text = base.slice(0, i) + insert + base.slice(i + cut);
        const sectioned = parseBySection("p.yaml", text, 64);
        if (!sectioned) return;
        const reference = whole(text);
        expect(reference.diagnostics).toEqual([]);
        expect(sectioned.root).toEqual(reference.value);
        expect([...sectioned.numbers].sort()).toEqual([...reference.numbers].sort());
        expect(plain(sectioned.locations)).toEqual(plain(reference.locations));
      }),
      { numRuns: 400 },
    );
  });

  it("is taken for a regular file, including the large generated ones", () => {
    expect(parseBySection("p.yaml", largePolicy({ customers: 10, chain: 3 }), 64)).not.toBeNull();
    expect(splitSections(largePolicy({ customers: 3 }))?.at(-1)?.entries).toHaveLength(3);
  });

  it.each([
    ["a flow map spanning lines", "plans: {\nfree: {}\n}\n"],
    ["a quoted string crossing an entry", 'customers:\n  a: { note: "x\n  b: y" }\n'],
    ["an alias to another section", "x: &a 1\ncustomers:\n  c: { seats: *a }\n"],
    ["a document marker", "---\nlimitr: 1\n"],
    ["a duplicate id", "customers:\n  a: {}\n  a: {}\n"],
    ["a duplicate section", "customers:\n  a: {}\ncustomers:\n  b: {}\n"],
    ["two flow maps as entries", "customers:\n  {a: 1}\n  {b: 2}\n"],
    ["an entry less indented than the first", "customers:\n    a: {}\n  b: {}\n"],
    ["a tab", "customers:\n\ta: {}\n"],
    ["a list as the section", "customers:\n  - a\n  - b\n"],
  ])("falls back to the whole document for %s", (_name, text) => {
    expect(parseBySection("p.yaml", text, 64)).toBeNull();
  });
});
