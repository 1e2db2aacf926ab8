import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Locations } from "../../src/engine/core/policy/locations.js";
import { readPlainEntry } from "../../src/engine/core/policy/plain-entry.js";
import { parseBySection } from "../../src/engine/core/policy/sections.js";
import { type Fragment, parseWhole } from "../../src/engine/core/policy/source.js";

function whole(text: string): Fragment {
  return parseWhole(
    { file: "p.yaml", value: null, locations: new Map(), numbers: new Map(), diagnostics: [] },
    text,
  );
}

const plain = (locations: Locations) =>
  [...locations]
    .map(([ptr, l]) => [ptr, { file: l.file, value: l.value, key: l.key, style: l.style }] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Scalars inside the subset the plain reader takes, then just outside it. */
const inside = [
  "pro",
  "eu-west",
  "Plan 7",
  "a - b",
  "cus_00000a1",
  "Europe/Paris",
  "x@y.z",
  "0",
  "-0",
  "7",
  "007",
  "-12",
  "3.50",
  "0.00002",
  "12345678901234567890",
  "2026-12-31",
  "true",
  "False",
  "TRUE",
  "yes",
  "null",
  "~",
  "Null",
  '"quoted # not a comment"',
  "'single'",
  '""',
];
const outside = [
  "2026-12-31T00:00:00Z",
  "+1",
  "1e3",
  ".5",
  "0x1F",
  "0o17",
  ".inf",
  "10GB",
  '"esc\\"aped"',
  "'it''s'",
  "a#b",
  "a: b",
  "&anchor x",
  "*alias",
  "!tag x",
  "|",
  "-",
  "- x",
  "[]",
  "{}",
];
const scalar = fc.oneof(
  { arbitrary: fc.constantFrom(...inside), weight: 6 },
  { arbitrary: fc.constantFrom(...outside), weight: 1 },
);
const key = fc.oneof(
  { arbitrary: fc.constantFrom("plan", "seats", "7", "a.b", "x-y", "_k", "limit"), weight: 6 },
  { arbitrary: fc.constantFrom("07", "true", "null", '"q"', "1.5", "k k"), weight: 1 },
);
const comment = fc.constantFrom("", " # note", "  #c", "#c");
const flow: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("map"), tie("seq")),
  map: fc
    .array(fc.tuple(key, tie("value") as fc.Arbitrary<string>), { maxLength: 3 })
    .map((pairs) => `{ ${pairs.map(([k, v]) => `${k}: ${v}`).join(", ")} }`),
  seq: fc
    .array(tie("value") as fc.Arbitrary<string>, { maxLength: 3 })
    .map((items) => `[${items.join(", ")}]`),
})).value as fc.Arbitrary<string>;

/** One customer entry: inline flow, or a block map with inline values and one nested block map. */
const entry = fc.tuple(
  fc.constantFrom("acme", "beta-2", "c.d", "42"),
  fc.oneof(
    fc.tuple(flow, comment).map(([v, c]) => ` ${v}${c}\n`),
    fc
      .array(fc.tuple(key, fc.oneof(scalar, flow), comment), { minLength: 1, maxLength: 4 })
      .chain((lines) =>
        fc.tuple(fc.constant(lines), fc.array(fc.tuple(key, scalar), { maxLength: 2 }), fc.boolean()),
      )
      .map(([lines, nested, blank]) => {
        let out = "\n";
        for (const [k, v, c] of lines) out += `    ${k}: ${v}${c}\n`;
        if (nested.length > 0) {
          out += `    nested:${blank ? " # under\n\n" : "\n"}`;
          for (const [k, v] of nested) out += `      ${k}: ${v}\n`;
        }
        return out;
      }),
  ),
);

describe("reading plain id-section entries without yaml", () => {
  it("gives exactly the data, numbers and locations yaml gives, or leaves the entry to yaml", () => {
    let read = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 4 }), (entries) => {
        const lines = entries.map(([id, rest], i) => `  ${id}${i}:${rest}`);
        const text = `limitr: 1\ncustomers:\n${lines.join("")}`;
        let at = text.indexOf("customers:\n") + "customers:\n".length;
        for (const line of lines) {
          total++;
          if (readPlainEntry(text, at, at + line.length, 2, "/customers", 64, false)) read++;
          at += line.length;
        }
        const sectioned = parseBySection("p.yaml", text, 64);
        const reference = whole(text);
        if (!sectioned) return;
        expect(reference.diagnostics).toEqual([]);
        expect(sectioned.root).toEqual(reference.value);
        expect([...sectioned.numbers].sort()).toEqual([...reference.numbers].sort());
        expect(plain(sectioned.locations)).toEqual(plain(reference.locations));
      }),
      { numRuns: 600 },
    );
    // The generator stays near the subset's edges, so both paths are exercised.
    expect(read).toBeGreaterThan(total / 20);
    expect(read).toBeLessThan(total);
  });

  it.each([
    ["a flow map", "  acme: { plan: pro, seats: 3, tags: [a, b] }\n", true],
    ["a block map with a nested map and comments", "  acme:\n    plan: pro # x\n    m:\n      k: 1\n", true],
    ["a block list", "  acme:\n    tags:\n      - a\n", false],
    ["an empty value", "  acme:\n    plan:\n", false],
    ["a float in exponent form", "  acme: { limit: 1e3 }\n", false],
    ["an escape", '  acme: { note: "a\\tb" }\n', false],
    ["a duplicate key", "  acme: { plan: a, plan: b }\n", false],
    ["a carriage return", "  acme: { plan: a }\r\n", false],
  ])("%s: read directly = %s", (_name, text, expected) => {
    expect(readPlainEntry(text, 0, text.length, 2, "/customers", 64, false) !== null).toBe(expected);
  });
});
