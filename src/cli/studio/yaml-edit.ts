import { isDeepStrictEqual } from "node:util";
import { type Document, isMap, isScalar, type Pair, parseDocument, type YAMLMap } from "yaml";

/**
 * Edits to a policy file that keep everything the person did not change:
 * comments, key order, alignment, flow maps, number spelling. The `yaml`
 * Document API decides what the edited document means (`setIn`/`deleteIn`);
 * the text is then patched only where the edited value sits, and the patch is
 * checked to parse to exactly what the Document API produced. When a patch
 * cannot be made that way (an unusual layout), the Document API's own text is
 * used: still correct, comments kept, but possibly reflowed.
 */
export type Path = (string | number)[];

export interface YamlEdit {
  path: Path;
  /**
   * New value; `undefined` deletes the key. A string of decimal digits is
   * written as a YAML number spelled exactly so (money stays exact).
   */
  value: unknown;
}

const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/** The YAML text of a scalar value: decimals as typed, strings quoted only when needed. */
function scalarText(value: unknown): string {
  if (typeof value === "string" && DECIMAL.test(value)) return value;
  const doc = parseDocument("");
  doc.contents = doc.createNode(value) as never;
  return String(doc).trimEnd();
}

/** The JS value the edit means, as a YAML reader will see it. */
function meaning(value: unknown): unknown {
  return typeof value === "string" && DECIMAL.test(value) ? Number(value) : value;
}

const lineStart = (text: string, at: number) => text.lastIndexOf("\n", at - 1) + 1;
const lineEnd = (text: string, at: number) => {
  const i = text.indexOf("\n", at);
  return i === -1 ? text.length : i;
};

function parentMap(doc: Document, path: Path): YAMLMap | null {
  const node = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  return isMap(node) ? node : null;
}

function findPair(map: YAMLMap, key: string | number): Pair | undefined {
  return map.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key) as Pair | undefined;
}

/** Replace, add or delete one key's value in the text; null when the layout is not one this handles. */
function patch(text: string, doc: Document, edit: YamlEdit): string | null {
  const map = parentMap(doc, edit.path);
  const key = edit.path[edit.path.length - 1]!;
  if (!map?.range) return null;
  const pair = findPair(map, key);
  const flow = map.flow === true;
  if (edit.value === undefined) {
    if (!pair) return text;
    const k = (pair.key as { range?: [number, number, number] }).range;
    const v = (pair.value as { range?: [number, number, number] } | null)?.range;
    if (!k || !v) return null;
    if (flow) {
      const after = text.slice(v[1]).match(/^\s*,\s*/)?.[0] ?? "";
      if (after) return text.slice(0, k[0]) + text.slice(v[1] + after.length);
      const before = text.slice(0, k[0]).match(/,\s*$/)?.[0] ?? "";
      return text.slice(0, k[0] - before.length) + text.slice(v[1]);
    }
    return text.slice(0, lineStart(text, k[0])) + text.slice(lineEnd(text, Math.max(0, v[1] - 1)) + 1);
  }
  const valueText = scalarText(edit.value);
  if (pair && isScalar(pair.value) && pair.value.range) {
    const [start, end] = pair.value.range;
    return text.slice(0, start) + valueText + text.slice(end);
  }
  if (pair) return null;
  const last = map.items[map.items.length - 1] as Pair | undefined;
  const lastValue = (last?.value as { range?: [number, number, number] } | null)?.range;
  const firstKey = (map.items[0]?.key as { range?: [number, number, number] } | undefined)?.range;
  if (!lastValue || !firstKey) return null;
  if (flow) return `${text.slice(0, lastValue[1])}, ${key}: ${valueText}${text.slice(lastValue[1])}`;
  const indent = " ".repeat(firstKey[0] - lineStart(text, firstKey[0]));
  const at = lineEnd(text, Math.max(0, lastValue[1] - 1));
  return `${text.slice(0, at)}\n${indent}${key}: ${valueText}${text.slice(at)}`;
}

export interface EditResult {
  text: string;
  /** False when the Document API's own output had to be used (layout may have changed). */
  preservedLayout: boolean;
}

/** Apply edits in order to one file's text. Throws when the text is not YAML a policy can hold. */
export function editYaml(text: string, edits: readonly YamlEdit[]): EditResult {
  let current = text;
  let preservedLayout = true;
  for (const edit of edits) {
    const doc = parseDocument(current);
    if (doc.errors.length > 0) throw new Error(doc.errors[0]!.message);
    const expected = parseDocument(current);
    if (edit.value === undefined) expected.deleteIn(edit.path);
    else expected.setIn(edit.path, meaning(edit.value));
    const patched = patch(current, doc, edit);
    if (patched !== null && isDeepStrictEqual(parseDocument(patched).toJS(), expected.toJS())) {
      current = patched;
    } else {
      current = String(expected);
      preservedLayout = false;
    }
  }
  return { text: current, preservedLayout };
}
