import { isDeepStrictEqual } from "node:util";
import { type Document, isCollection as isYamlCollection, parseDocument } from "yaml";
import { type EditResult, editYaml, type Path, type YamlEdit } from "./yaml-edit.js";
import { isCollection, meaning } from "./yaml-text.js";

/**
 * Set a whole value (a tier table, a contract's overrides, a wallet) as the
 * smallest edits from what the file holds: unchanged rows keep their text and
 * comments, a changed number is replaced in place, a removed row loses its
 * line, a new row is appended. `undefined` removes the key.
 */
export function setYamlValue(text: string, path: Path, value: unknown): EditResult {
  const doc = parseDocument(text);
  // A value under keys the file does not have yet is written whole under the nearest key it has.
  let at = path;
  let next = clean(value);
  while (at.length > 1 && next !== undefined && doc.getIn(at.slice(0, -1)) === undefined) {
    next = { [String(at[at.length - 1])]: next };
    at = at.slice(0, -1);
  }
  const old = valueAt(doc.toJS() as unknown, at);
  return editYaml(text, editsFor(doc, at, old, next));
}

/** A flow collection (`{ a: 1 }`, `[1, 2]`) has no comments inside: it is rewritten whole. */
function isFlow(doc: Document, path: Path): boolean {
  const node = doc.getIn(path, true);
  return isYamlCollection(node) && node.flow === true;
}

/** Pairs of indexes of equal items, in order (a longest common subsequence). */
function commonItems(a: unknown[], b: unknown[]): [number, number][] {
  const n = a.length;
  const m = b.length;
  const len: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      len[i]![j] = isDeepStrictEqual(a[i], b[j])
        ? 1 + len[i + 1]![j + 1]!
        : Math.max(len[i + 1]![j]!, len[i]![j + 1]!);
  const pairs: [number, number][] = [];
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (isDeepStrictEqual(a[i], b[j])) pairs.push([i++, j++]);
    else if (len[i + 1]![j]! >= len[i]![j + 1]!) i++;
    else j++;
  }
  return pairs;
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) node = (node as Record<string | number, unknown> | undefined)?.[key];
  return node;
}

/** Empty form fields mean "leave the key out". */
export function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (isCollection(value)) {
    const entries = Object.entries(value)
      .map(([k, v]) => [k, clean(v)] as const)
      .filter(([, v]) => v !== undefined && v !== null && v !== "");
    return Object.fromEntries(entries);
  }
  return value === "" ? undefined : value;
}

function editsFor(doc: Document, path: Path, old: unknown, next: unknown): YamlEdit[] {
  if (next === undefined) return old === undefined ? [] : [{ path, value: undefined }];
  if (isDeepStrictEqual(old, meaning(next))) return [];
  if (isFlow(doc, path)) return [{ path, value: next }];
  const bothMaps = isCollection(old) && isCollection(next) && !Array.isArray(old) && !Array.isArray(next);
  if (bothMaps && Object.keys(next).length > 0) {
    const o = old as Record<string, unknown>;
    const n = next as Record<string, unknown>;
    return [
      ...Object.keys(o)
        .filter((k) => !(k in n))
        .map((k) => ({ path: [...path, k], value: undefined })),
      ...Object.keys(n).flatMap((k) => editsFor(doc, [...path, k], o[k], n[k])),
    ];
  }
  if (Array.isArray(old) && Array.isArray(next) && next.length > 0 && old.length > 0) {
    // Rows kept as they were keep their text (and comments): remove the others, append the new ones.
    const kept = commonItems(old, next.map(meaning));
    const lastKept = kept.length === 0 ? -1 : kept[kept.length - 1]![1];
    const newRows = next.map((_, j) => j).filter((j) => !kept.some(([, k]) => k === j));
    if (kept.length > 0 && newRows.every((j) => j > lastKept)) {
      const removed = old.map((_, i) => i).filter((i) => !kept.some(([k]) => k === i));
      return [
        ...removed.reverse().map((i) => ({ path: [...path, i], value: undefined })),
        ...newRows.map((j, n) => ({ path: [...path, kept.length + n], value: next[j] })),
      ];
    }
    const shared = Math.min(old.length, next.length);
    const edits: YamlEdit[] = [];
    for (let i = 0; i < shared; i++) edits.push(...editsFor(doc, [...path, i], old[i], next[i]));
    for (let i = old.length - 1; i >= next.length; i--) edits.push({ path: [...path, i], value: undefined });
    for (let i = old.length; i < next.length; i++) edits.push({ path: [...path, i], value: next[i] });
    return edits;
  }
  return [{ path, value: next }];
}
