import { describe, expect, it } from "vitest";
import { MAX_FILE_BYTES, parseFragment } from "../../src/engine/core/policy/source.js";
import { codes } from "./helpers.js";

describe("parseFragment (YAML stage)", () => {
  it("locates every key and value with 1-based line and column", () => {
    const f = parseFragment({ path: "p.yaml", text: "plans:\n  pro:\n    price: 49\n" });
    expect(f.diagnostics).toEqual([]);
    expect(f.locations.get("/plans/pro/price")).toMatchObject({
      file: "p.yaml",
      key: { line: 3, column: 5 },
      value: { line: 3, column: 12 },
    });
  });

  it("keeps the source text of numbers, so money never passes through a float", () => {
    const f = parseFragment({ path: "p.yaml", text: "a: 0.123456789012345678\nb: 1e-7\n" });
    expect(f.numbers.get("/a")).toBe("0.123456789012345678");
    expect(f.numbers.get("/b")).toBe("1e-7");
  });

  it("builds maps without prototypes: a __proto__ key is data, not a prototype", () => {
    const f = parseFragment({ path: "p.yaml", text: "__proto__: { polluted: true }\nconstructor: 1\n" });
    const v = f.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect(Object.keys(v)).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("reports a duplicate key with its position", () => {
    const f = parseFragment({ path: "p.yaml", text: "a: 1\nb: 2\na: 3\n" });
    expect(f.diagnostics).toMatchObject([{ code: "yaml/syntax", line: 3, column: 1 }]);
  });

  it("reports tab indentation", () => {
    const f = parseFragment({ path: "p.yaml", text: "a:\n\tb: 1\n" });
    expect(codes(f.diagnostics)).toContain("yaml/syntax");
    expect(f.diagnostics[0]?.line).toBe(2);
  });

  it("refuses an alias bomb before expanding it", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const f = parseFragment({ path: "bomb.yaml", text: `${levels.join("\n")}\n` });
    expect(codes(f.diagnostics)).toEqual(["yaml/alias-limit"]);
    expect(f.value).toBeNull();
  });

  it("accepts a few ordinary anchors and aliases", () => {
    const f = parseFragment({ path: "p.yaml", text: "x: &r { capacity: 10, per_second: 1 }\ny: *r\n" });
    expect(f.diagnostics).toEqual([]);
    expect((f.value as Record<string, { capacity: number }>).y?.capacity).toBe(10);
  });

  it("refuses a file over the size limit without parsing it", () => {
    const f = parseFragment({ path: "big.yaml", text: new Uint8Array(MAX_FILE_BYTES + 1) });
    expect(f.diagnostics).toMatchObject([{ code: "yaml/too-large", line: 1, column: 1 }]);
  });

  it("reports bytes that are not UTF-8", () => {
    const f = parseFragment({ path: "p.yaml", text: new Uint8Array([0x61, 0x3a, 0x20, 0xe9, 0x0a]) });
    expect(codes(f.diagnostics)).toEqual(["yaml/encoding"]);
  });

  it("rejects a file that is a list or a scalar, and treats an empty file as nothing", () => {
    expect(codes(parseFragment({ path: "p.yaml", text: "- a\n- b\n" }).diagnostics)).toEqual([
      "yaml/not-a-map",
    ]);
    expect(codes(parseFragment({ path: "p.yaml", text: "just text\n" }).diagnostics)).toEqual([
      "yaml/not-a-map",
    ]);
    const empty = parseFragment({ path: "p.yaml", text: "# only a comment\n" });
    expect(empty.diagnostics).toEqual([]);
    expect(empty.value).toBeNull();
  });

  it("rejects complex keys and absurd nesting without crashing", () => {
    expect(codes(parseFragment({ path: "p.yaml", text: "? [a, b]\n: 1\n" }).diagnostics)).toEqual([
      "yaml/complex-key",
    ]);
    const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
    expect(codes(parseFragment({ path: "p.yaml", text: `a: ${deep}\n` }).diagnostics)).toEqual([
      "yaml/too-deep",
    ]);
  });
});
