import { isDeepStrictEqual } from "node:util";
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type Pair,
  parseDocument,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { blockText, flowText, isCollection, meaning, scalarText } from "./yaml-text.js";

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
   * New value; `undefined` deletes the key (or the sequence item). A string
   * of decimal digits is written as a YAML number spelled exactly so (money
   * stays exact); maps and lists are written in the file's style (a list of
   * small maps as `- { a: 1, b: 2 }` lines). A number past the end of a list
   * appends an item.
   */
  value: unknown;
}

type Range = [number, number, number];
const rangeOf = (node: unknown): Range | undefined => (node as { range?: Range } | null)?.range ?? undefined;

const lineStart = (text: string, at: number) => text.lastIndexOf("\n", at - 1) + 1;
const lineEnd = (text: string, at: number) => {
  const i = text.indexOf("\n", at);
  return i === -1 ? text.length : i;
};
/** The end of a block node's last line (ranges of block values reach into the next line). */
const blockEnd = (text: string, r: Range) => lineEnd(text, Math.max(r[0], r[1] - 1));

function parentNode(doc: Document, path: Path): unknown {
  return path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
}

function findPair(map: YAMLMap, key: string | number): Pair | undefined {
  return map.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key) as Pair | undefined;
}

const indentOf = (text: string, at: number) => " ".repeat(at - lineStart(text, at));

/** The text of `value` placed after `key:` in a block map whose keys sit at `indent`. */
function afterKey(value: unknown, indent: string): string {
  if (!isCollection(value) || (Array.isArray(value) && value.length === 0)) return ` ${flowText(value)}`;
  const inner = Array.isArray(value) ? `${indent}  ` : `${indent}  `;
  return `\n${blockText(value, inner)}`;
}

function patchSeq(text: string, seq: YAMLSeq, index: number, value: unknown): string | null {
  const flow = seq.flow === true;
  const item = seq.items[index];
  if (value === undefined) {
    const r = rangeOf(item);
    if (!r) return item === undefined ? text : null;
    if (flow) {
      const after = text.slice(r[1]).match(/^\s*,\s*/)?.[0] ?? "";
      if (after) return text.slice(0, r[0]) + text.slice(r[1] + after.length);
      const before = text.slice(0, r[0]).match(/,\s*$/)?.[0] ?? "";
      return text.slice(0, r[0] - before.length) + text.slice(r[1]);
    }
    const start = lineStart(text, r[0]);
    if (!/^\s*-\s+$/.test(text.slice(start, r[0]))) return null;
    return text.slice(0, start) + text.slice(blockEnd(text, r) + 1);
  }
  if (item !== undefined) {
    // A flow item (or a scalar) is rewritten in place; a block item is not this patch's business.
    const r = rangeOf(item);
    const flowItem = isScalar(item) || (item as { flow?: boolean }).flow === true;
    if (!r || !flowItem) return null;
    return text.slice(0, r[0]) + flowText(value) + text.slice(r[1]);
  }
  if (index !== seq.items.length) return null;
  const last = rangeOf(seq.items[seq.items.length - 1]);
  if (!last) return null;
  if (flow) return `${text.slice(0, last[1])}, ${flowText(value)}${text.slice(last[1])}`;
  const dash = text.lastIndexOf("-", last[0]);
  if (dash < lineStart(text, last[0])) return null;
  const indent = indentOf(text, dash);
  const at = blockEnd(text, last);
  const body = isCollection(value) ? blockItem(value, indent) : scalarText(value);
  return `${text.slice(0, at)}\n${indent}- ${body}${text.slice(at)}`;
}

/** A list item after `- `: a map of scalars in flow style, anything else as a block. */
function blockItem(value: unknown, indent: string): string {
  const flat = !Array.isArray(value) && Object.values(value as object).every((v) => !isCollection(v));
  if (flat) return flowText(value);
  return blockText(value, `${indent}  `).trimStart();
}

/** Replace, add or delete one key's value (or list item) in the text; null when the layout is not one this handles. */
function patch(text: string, doc: Document, edit: YamlEdit): string | null {
  const parent = parentNode(doc, edit.path);
  const key = edit.path[edit.path.length - 1]!;
  if (isSeq(parent) && typeof key === "number") return patchSeq(text, parent, key, edit.value);
  if (!isMap(parent) || !parent.range) return null;
  const map = parent;
  const pair = findPair(map, key);
  const flow = map.flow === true;
  if (edit.value === undefined) {
    if (!pair) return text;
    const k = rangeOf(pair.key);
    const v = rangeOf(pair.value);
    if (!k || !v) return null;
    if (flow) {
      const after = text.slice(v[1]).match(/^\s*,\s*/)?.[0] ?? "";
      if (after) return text.slice(0, k[0]) + text.slice(v[1] + after.length);
      const before = text.slice(0, k[0]).match(/,\s*$/)?.[0] ?? "";
      return text.slice(0, k[0] - before.length) + text.slice(v[1]);
    }
    return text.slice(0, lineStart(text, k[0])) + text.slice(blockEnd(text, v) + 1);
  }
  const collection = isCollection(edit.value);
  if (pair && isScalar(pair.value) && pair.value.range && !collection) {
    const [start, end] = pair.value.range;
    return text.slice(0, start) + scalarText(edit.value) + text.slice(end);
  }
  if (pair) {
    // A whole value replaced: from just after `key:` to the end of the old value.
    const k = rangeOf(pair.key);
    const v = rangeOf(pair.value);
    if (!k || !v) return null;
    const colon = text.indexOf(":", k[1]);
    if (colon === -1 || colon > v[0]) return null;
    const value = pair.value as { flow?: boolean } | null;
    const end = flow || value?.flow || isScalar(pair.value) ? v[1] : blockEnd(text, v);
    const next = flow ? ` ${flowText(edit.value)}` : afterKey(edit.value, indentOf(text, k[0]));
    return `${text.slice(0, colon + 1)}${next}${text.slice(end)}`;
  }
  const last = map.items[map.items.length - 1] as Pair | undefined;
  const lastValue = rangeOf(last?.value);
  const firstKey = rangeOf(map.items[0]?.key);
  if (!lastValue || !firstKey) return null;
  if (flow)
    return `${text.slice(0, lastValue[1])}, ${key}: ${flowText(edit.value)}${text.slice(lastValue[1])}`;
  const indent = indentOf(text, firstKey[0]);
  const at = blockEnd(text, lastValue);
  return `${text.slice(0, at)}\n${indent}${key}:${afterKey(edit.value, indent)}${text.slice(at)}`;
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
    const parent = parentNode(expected, edit.path);
    const key = edit.path[edit.path.length - 1];
    if (edit.value !== undefined) expected.setIn(edit.path, meaning(edit.value));
    else if (isSeq(parent) && typeof key === "number") parent.items.splice(key, 1);
    else expected.deleteIn(edit.path);
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
