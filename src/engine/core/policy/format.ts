import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type Scalar,
  type ScalarTag,
  type Tags,
  visit,
} from "yaml";

/**
 * `limitr fmt`: one canonical text per policy file, through the `yaml`
 * Document API so comments stay where they were:
 * - keys in the order the schema lists them (which is the order
 *   docs/policy-format.md documents them in); ids chosen by the author (meter,
 *   plan, customer names...) and keys the schema does not know keep their order;
 * - strings plain where YAML reads them back as the same string, else double-quoted;
 *   block scalars (`|`, `>`) stay blocks;
 * - numbers exactly as written (money is exact: `0.00000015` never becomes `1.5e-7`);
 * - two-space indentation, no line folding, flow collections as `[a, b]` / `{ k: v }`.
 * Formatting formatted text changes nothing.
 */
type Schema = Record<string, unknown>;

export interface FormatResult {
  text: string;
  /** YAML syntax errors (nothing is formatted then). */
  errors: { line: number; column: number; message: string }[];
}

/** Number tags print their source text; all other tags print as the library does. */
const exactNumbers = (tags: Tags): Tags =>
  tags.map((t) => {
    const tag = t as ScalarTag;
    if (tag.tag !== "tag:yaml.org,2002:int" && tag.tag !== "tag:yaml.org,2002:float") return t;
    const original = tag.stringify;
    return {
      ...tag,
      stringify: (item, ctx, onComment, onChompKeep) => {
        const source = (item as Scalar).source;
        if (typeof source === "string" && source !== "") return source;
        return original ? original(item, ctx, onComment, onChompKeep) : String((item as Scalar).value);
      },
    } as ScalarTag;
  });

export function formatPolicyYaml(text: string, schema: Schema | null): FormatResult {
  // Duplicate keys are found below with a set per map: yaml's own check compares every pair of keys.
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    version: "1.2",
    customTags: exactNumbers,
    keepSourceTokens: false,
    uniqueKeys: false,
    lineCounter: lines,
  });
  const errors = doc.errors.map((e) => ({
    line: e.linePos?.[0]?.line ?? 1,
    column: e.linePos?.[0]?.col ?? 1,
    message: e.message.split("\n")[0] ?? e.message,
  }));
  if (errors.length === 0) errors.push(...duplicateKeys(doc, lines));
  if (errors.length > 0) return { text, errors };
  visit(doc, {
    Scalar(_, node) {
      if (node.type === "QUOTE_SINGLE" || node.type === "QUOTE_DOUBLE" || node.type === "PLAIN")
        node.type = undefined;
    },
  });
  if (schema) order(doc.contents as Node | null, schema, schema);
  const out = doc.toString({
    indent: 2,
    indentSeq: true,
    lineWidth: 0,
    singleQuote: false,
    flowCollectionPadding: true,
  });
  return { text: out, errors: [] };
}

/** Every key written twice in one map, where its second occurrence starts. */
function duplicateKeys(doc: Document, lines: LineCounter): FormatResult["errors"] {
  const out: FormatResult["errors"] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key)) continue;
        const name = key.value === null ? "" : String(key.value);
        if (seen.has(name)) {
          const at = lines.linePos(key.range?.[0] ?? 0);
          out.push({ line: at.line, column: at.col, message: `duplicate key "${name}"` });
        }
        seen.add(name);
      }
    },
  });
  return out;
}

function deref(s: unknown, root: Schema): Schema | null {
  let cur = s as Schema | null;
  for (let i = 0; cur && typeof cur.$ref === "string" && i < 16; i++) {
    const path = (cur.$ref as string).replace(/^#\//, "").split("/");
    cur = path.reduce<Schema | null>((at, k) => (at?.[k] as Schema | undefined) ?? null, root);
  }
  return cur && typeof cur === "object" ? cur : null;
}

/** The schema and every subschema that may apply to the same value (allOf, anyOf, oneOf, then, else). */
function variants(s: Schema | null, root: Schema, depth = 0): Schema[] {
  if (!s || depth > 8) return [];
  const out = [s];
  for (const k of ["allOf", "anyOf", "oneOf"]) {
    for (const sub of (s[k] as unknown[] | undefined) ?? [])
      out.push(...variants(deref(sub, root), root, depth + 1));
  }
  for (const k of ["then", "else"]) if (s[k]) out.push(...variants(deref(s[k], root), root, depth + 1));
  return out;
}

function childSchema(all: Schema[], key: string, root: Schema): Schema | null {
  for (const v of all) {
    const p = (v.properties as Record<string, unknown> | undefined)?.[key];
    if (p) return deref(p, root);
  }
  for (const v of all) {
    for (const [pattern, sub] of Object.entries((v.patternProperties as Record<string, unknown>) ?? {}))
      if (new RegExp(pattern, "u").test(key)) return deref(sub, root);
    if (v.additionalProperties && typeof v.additionalProperties === "object")
      return deref(v.additionalProperties, root);
  }
  return null;
}

function order(node: Node | null, schema: Schema | null, root: Schema): void {
  const all = variants(deref(schema, root), root);
  if (isMap(node)) {
    const known: string[] = [];
    for (const v of all)
      for (const k of Object.keys((v.properties as object) ?? {})) if (!known.includes(k)) known.push(k);
    const rank = (p: Pair) => {
      const i = known.indexOf(String(isScalar(p.key) ? p.key.value : p.key));
      return i < 0 ? known.length : i;
    };
    // Array.prototype.sort is stable: unknown keys and ids keep their relative order, after the known ones.
    const pairs = node.items as Pair[];
    const sorted = [...pairs].sort((a, b) => rank(a) - rank(b));
    // A comment above the first key belongs to the map's position, not to that key: keep it on top.
    const first = pairs[0];
    if (first && sorted[0] !== first && isScalar(first.key) && first.key.commentBefore) {
      const top = sorted[0] as Pair;
      if (isScalar(top.key) && !top.key.commentBefore) {
        top.key.commentBefore = first.key.commentBefore;
        first.key.commentBefore = undefined;
      }
    }
    // A blank line travels with its key; the new first key takes the old first's (none under a
    // comment header), and the old first gets one when the map separates its keys with blank lines.
    if (first && sorted[0] !== first && isScalar(first.key)) {
      const top = sorted[0] as Pair;
      const separated = pairs.some((p) => p !== first && isScalar(p.key) && p.key.spaceBefore);
      if (isScalar(top.key)) top.key.spaceBefore = first.key.spaceBefore;
      first.key.spaceBefore = separated || undefined;
    }
    node.items = sorted;
    for (const p of sorted) {
      if (!isPair(p)) continue;
      const key = String(isScalar(p.key) ? p.key.value : p.key);
      order(p.value as Node | null, childSchema(all, key, root), root);
    }
  } else if (isSeq(node)) {
    const itemSchema = all.map((v) => v.items).find(Boolean);
    for (const item of node.items) order(item as Node, deref(itemSchema, root), root);
  }
}
