import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDocument, stringify } from "yaml";
import type { ValidationResult } from "../../src/engine/core/policy/validate.js";
import { exampleFiles, validate } from "./helpers.js";

/**
 * Whatever the input, validation returns located diagnostics: never an
 * exception, never a problem without a file:line:col, never a compile failure
 * behind a "valid" verdict.
 */
function assertWellFormed(files: Record<string, string | Uint8Array>, result: ValidationResult): void {
  const names = new Set(Object.keys(files));
  for (const d of result.diagnostics) {
    expect(names.has(d.file), `${d.file} is one of the inputs`).toBe(true);
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.column).toBeGreaterThanOrEqual(1);
    expect(d.code).toMatch(/^[a-z]+\/[a-z0-9-]+$/);
    expect(d.code).not.toBe("policy/compile");
    expect(d.message.length).toBeGreaterThan(0);
  }
  const hasErrors = result.diagnostics.some((d) => d.severity === "error");
  expect(result.policy === undefined).toBe(hasErrors);
}

function check(files: Record<string, string | Uint8Array>): ValidationResult {
  let result: ValidationResult | undefined;
  expect(() => {
    result = validate(files);
  }).not.toThrow();
  assertWellFormed(files, result!);
  return result!;
}

const example = exampleFiles();
const names = Object.keys(example);
const trees = Object.fromEntries(names.map((n) => [n, parseDocument(example[n]!).toJS() as unknown]));

const WEIRD: unknown[] = [
  null,
  [],
  {},
  "",
  "x",
  -1,
  0,
  1e308,
  -0.5,
  true,
  "__proto__",
  [null, [[]]],
  { __proto__: { a: 1 } },
  { constructor: { prototype: 1 } },
  "${NOT_CLOSED",
  "usage_percent >=",
  "2026-02-30",
  { model: "graduated", tiers: [{}] },
  { model: "volume" },
];

/** Every path to a value in a tree (keys and list indices). */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) out.push(...paths(v, [...prefix, i]));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

type Edit = { kind: "set"; value: unknown } | { kind: "delete" } | { kind: "rename"; to: string };

function apply(tree: unknown, path: (string | number)[], edit: Edit): unknown {
  if (path.length === 0) return edit.kind === "set" ? edit.value : null;
  const copy = structuredClone(tree) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (edit.kind === "set") node[last] = edit.value;
  else if (edit.kind === "delete") delete node[last];
  else if (!Array.isArray(node)) {
    Object.defineProperty(node, edit.to, {
      value: node[last],
      enumerable: true,
      configurable: true,
      writable: true,
    });
    delete node[last];
  }
  return copy;
}

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.constantFrom(...WEIRD).map((value) => ({ kind: "set" as const, value })),
  fc.constant({ kind: "delete" as const }),
  fc
    .constantFrom("__proto__", "constructor", "Pro", "plan s", "9", "")
    .map((to) => ({ kind: "rename" as const, to })),
);

describe("validation never crashes and always locates its diagnostics", () => {
  it("random structural edits of the example policy", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.nat(),
        editArb,
        fc.nat(),
        editArb,
        (file, pick1, edit1, pick2, edit2) => {
          const all = paths(trees[file]);
          let tree = apply(trees[file], all[pick1 % all.length]!, edit1);
          const again = paths(tree);
          tree = apply(tree, again[pick2 % again.length]!, edit2);
          check({ ...example, [file]: stringify(tree) });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("truncating or corrupting a file at any offset", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.nat(),
        fc.constantFrom("", "\t", ":", "- ", "&a *a", "{", "'", "\n  x: [", "\u0000"),
        (file, at, junk) => {
          const text = example[file]!;
          const cut = at % (text.length + 1);
          check({
            ...example,
            [file]: text.slice(0, cut) + junk + text.slice(cut + (junk === "" ? text.length : 0)),
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ["an empty file", ""],
    ["only comments", "# nothing\n"],
    ["a list", "- limitr\n- 1\n"],
    ["a scalar", "limitr\n"],
    ["null document", "~\n"],
    ["several documents", "limitr: 1\n---\nname: x\n"],
    ["a section that is a list", "plans: [free, pro]\n"],
    ["a section that is a string", "meters: tokens\n"],
    ["ids that are numbers and booleans", "plans:\n  1: {}\n  true: {}\n"],
    ["a __proto__ id", "plans:\n  __proto__: { default: true }\n"],
    ["a constructor id", "customers:\n  constructor: { plan: pro }\n"],
    ["metadata with a __proto__ key", "customers:\n  acme-holdings:\n    metadata: { __proto__: x }\n"],
    ["an entitlement that is a list", "plans:\n  x:\n    entitlements:\n      a: [1, 2]\n"],
    [
      "tiers that are a map",
      "plans:\n  x:\n    entitlements:\n      a: { meter: seats, price: { model: volume, tiers: { a: 1 } } }\n",
    ],
    ["an unknown tag", "name: !secret acme\n"],
    ["a binary scalar", "name: !!binary aGVsbG8=\n"],
    ["a date where a string is expected", "name: 2026-01-01\n"],
    [
      "huge integers",
      "plans:\n  x:\n    entitlements:\n      a: { meter: seats, limit: 123456789012345678901234567890 }\n",
    ],
    ["hex and octal numbers", "plans:\n  x: { price: 0x1F, minimum: 0o17 }\n"],
    ["a cyclic alias", "a: &a [*a]\n"],
    ["an undefined alias", "a: *nope\n"],
    ["a complex key", "? [a]\n: b\n"],
    ["a duplicate section in one file", "plans: {}\nplans: {}\n"],
  ])("survives %s", (_, text) => {
    check({ ...example, "extra.yaml": text });
  });

  it("survives bytes that are not UTF-8 and a byte-order mark", () => {
    check({ ...example, "extra.yaml": new Uint8Array([0xff, 0xfe, 0x00, 0x61]) });
    const bom = check({
      ...example,
      "extra.yaml": new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("name: x\n")]),
    });
    expect(bom.diagnostics.map((d) => d.code)).not.toContain("yaml/encoding");
  });
});
