import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isMap, isScalar, isSeq, type Node, parseDocument } from "yaml";
import { editYaml, type Path } from "../../src/cli/studio/yaml-edit.js";

const COMMENTED = "fixtures/studio/comment-heavy.yaml";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Every scalar under a map key, with its path and its text as written. */
function scalarLeaves(text: string): { path: Path; source: string }[] {
  const out: { path: Path; source: string }[] = [];
  const walk = (node: Node | null, path: Path) => {
    if (isMap(node))
      for (const pair of node.items)
        walk(pair.value as Node, [...path, String((pair.key as { value: unknown }).value)]);
    else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) walk(item as Node, [...path, i]);
    } else if (isScalar(node) && node.range && typeof path[path.length - 1] === "string")
      out.push({ path, source: text.slice(node.range[0], node.range[1]) });
  };
  walk(parseDocument(text).contents as Node, []);
  return out;
}

/** Lines of `after` that differ from `before`, compared position by position. */
function changedLines(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  return b.filter((line, i) => line !== a[i]);
}

const files = [...yamlFiles("policies"), COMMENTED];

describe("editing policy YAML", () => {
  it.each(files)("%s round-trips byte for byte when nothing changes", (file) => {
    const text = readFileSync(file, "utf8");
    expect(editYaml(text, []).text).toBe(text);
    // Writing back every number as the same number changes no byte either.
    const numbers = scalarLeaves(text).filter((l) => /^-?\d+(\.\d+)?$/.test(l.source));
    const result = editYaml(
      text,
      numbers.map((l) => ({ path: l.path, value: l.source })),
    );
    expect(result).toEqual({ text, preservedLayout: true });
  });

  it("changes only the edited line, keeping its trailing comment", () => {
    const text = readFileSync("policies/plans.yaml", "utf8");
    const { text: out, preservedLayout } = editYaml(text, [
      { path: ["plans", "pro", "entitlements", "chat_input", "overage"], value: "0.000004" },
    ]);
    expect(preservedLayout).toBe(true);
    expect(changedLines(text, out)).toEqual([
      "        overage: 0.000004          # $3 per million tokens past the included 2M",
    ]);
    expect(out.split("\n")).toHaveLength(text.split("\n").length);
  });

  it("adds a key under the last one of a block map with the map's indentation", () => {
    const text = readFileSync(COMMENTED, "utf8");
    const { text: out } = editYaml(text, [
      { path: ["plans", "starter", "entitlements", "calls", "period"], value: "day" },
    ]);
    const lines = out.split("\n");
    const at = lines.indexOf("        period: day");
    expect(at).toBeGreaterThan(0);
    expect(lines[at - 1]).toContain("rate: {capacity: 5,   per_second: 1}   # flow map");
    expect(lines.filter((l, i) => l !== text.split("\n")[i - (i > at ? 1 : 0)])).toEqual([
      "        period: day",
    ]);
  });

  it("edits inside flow maps and deletes keys without touching neighbours", () => {
    const text = readFileSync(COMMENTED, "utf8");
    const { text: out, preservedLayout } = editYaml(text, [
      { path: ["plans", "starter", "entitlements", "tokens", "limit"], value: "3000" },
      { path: ["plans", "starter", "entitlements", "calls", "rate", "capacity"], value: "7" },
      { path: ["plans", "starter", "entitlements", "calls", "overage"], value: undefined },
    ]);
    expect(preservedLayout).toBe(true);
    const doc = parseDocument(out).toJS();
    expect(doc.plans.starter.entitlements.tokens).toEqual({ meter: "tokens", limit: 3000, mode: "hard" });
    expect(doc.plans.starter.entitlements.calls.overage).toBeUndefined();
    expect(out).toContain("      tokens: { meter: tokens, limit: 3000, mode: hard }\n");
    expect(out).toContain("rate: {capacity: 7,   per_second: 1}   # flow map, no inner spaces\n");
    expect(out).not.toContain("trailing zero kept");
    // Everything else, comments included, is where it was.
    const kept = text.split("\n").filter((l) => !/tokens:|capacity|overage/.test(l));
    expect(out.split("\n").filter((l) => !/tokens:|capacity/.test(l))).toEqual(kept);
  });
});
