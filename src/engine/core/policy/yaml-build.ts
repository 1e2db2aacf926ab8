import { type Document, isAlias, isMap, isScalar, isSeq, type Node } from "yaml";
import type { Diagnostic } from "./diagnostics.js";
import { dotted, type LinePos, type Locations, OffsetLocation, pointer } from "./locations.js";

/** A parsed YAML document and where its text starts in the file (non-zero for one section of a file). */
export interface Piece {
  doc: Document.Parsed;
  text: string;
  base: number;
}

/**
 * Turns yaml nodes into plain data (maps without prototypes), recording the
 * location of every value by JSON pointer and the source text of every number.
 * Problems it meets (non-scalar keys, duplicate keys, nesting past `maxDepth`
 * or an alias cycle) are collected, not thrown.
 */
export class Builder {
  readonly diagnostics: Diagnostic[] = [];
  readonly duplicates: Diagnostic[] = [];
  tooDeep = false;
  private readonly resolving = new Set<Node>();

  constructor(
    private readonly file: string,
    private readonly linePos: LinePos,
    readonly locations: Locations,
    readonly numbers: Map<string, string>,
    private readonly maxDepth: number,
  ) {}

  /** Plain data of `node` (a node of `piece`), stored under `ptr`; `keyAt` is where the key naming it starts. */
  build(piece: Piece, node: unknown, ptr: string, keyAt?: number, depth = 0): unknown {
    const n = node as Node | null;
    if (depth > this.maxDepth) {
      this.tooDeep = true;
      return null;
    }
    // Offset 0 is line 1, column 1: where a value without a position is reported.
    const valueAt = n?.range ? piece.base + n.range[0] : (keyAt ?? 0);
    if (n && isAlias(n)) {
      const target = n.resolve(piece.doc) as Node | undefined;
      if (!target || this.resolving.has(target)) {
        this.tooDeep = true;
        return null;
      }
      this.resolving.add(target);
      const v = this.build(piece, target, ptr, keyAt ?? valueAt, depth + 1);
      this.resolving.delete(target);
      return v;
    }
    const style = n && isScalar(n) ? n.type : undefined;
    this.locations.set(ptr, new OffsetLocation(this.file, this.linePos, valueAt, keyAt, style));
    if (n === null || n === undefined) return null;
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === "number" || typeof v === "bigint") {
        const source = n.range ? piece.text.slice(n.range[0], n.range[1]).trim() : String(v);
        this.numbers.set(ptr, source);
        // .inf / .nan are numbers to YAML but not to a price list: keep their text so the schema rejects them.
        return typeof v === "bigint" ? Number(v) : Number.isFinite(v) ? v : source;
      }
      return v instanceof Date ? v.toISOString().slice(0, 10) : v;
    }
    if (isSeq(n))
      return n.items.map((item, i) => this.build(piece, item, `${ptr}/${i}`, undefined, depth + 1));
    if (isMap(n)) {
      const out: Record<string, unknown> = Object.create(null);
      for (const pair of n.items) {
        const k = pair.key as Node | null;
        const name = this.keyName(k, k?.range ? piece.base + k.range[0] : valueAt);
        if (name === null) continue;
        this.entry(
          out,
          piece,
          ptr,
          name,
          k?.range ? piece.base + k.range[0] : valueAt,
          pair.value,
          depth + 1,
        );
      }
      return out;
    }
    return null;
  }

  /** The name a map key spells, or null (and a diagnostic) when it is not a plain scalar. */
  keyName(k: Node | null, keyAt: number): string | null {
    if (!isScalar(k) || (k.value !== null && typeof k.value === "object")) {
      const p = this.linePos(keyAt);
      this.diagnostics.push({
        severity: "error",
        code: "yaml/complex-key",
        message: "map keys must be plain names",
        file: this.file,
        line: p.line,
        column: p.col,
        path: "",
      });
      return null;
    }
    return k.value === null ? "" : String(k.value);
  }

  /** Adds `name: value` to `out` (the map at `mapPtr`), or records a duplicate key. */
  entry(
    out: Record<string, unknown>,
    piece: Piece,
    mapPtr: string,
    name: string,
    keyAt: number,
    value: unknown,
    depth: number,
  ): void {
    const keyPtr = `${mapPtr}${pointer([name])}`;
    if (Object.hasOwn(out, name)) {
      const first = this.locations.get(keyPtr);
      this.duplicates.push(this.duplicateKey(name, mapPtr, keyAt, first?.key ?? first?.value));
      return;
    }
    out[name] = this.build(piece, value, keyPtr, keyAt, depth);
  }

  private duplicateKey(name: string, mapPtr: string, keyAt: number, first: { line: number } | undefined) {
    const at = this.linePos(keyAt);
    const where = mapPtr === "" ? "at the top level" : `in ${dotted(mapPtr)}`;
    const earlier = first ? ` (first at line ${first.line})` : "";
    return {
      severity: "error" as const,
      code: "yaml/syntax",
      message: `duplicate key "${name}" ${where}${earlier}`,
      file: this.file,
      line: at.line,
      column: at.col,
      path: dotted(`${mapPtr}${pointer([name])}`),
      hint: "each key may appear once in a map; merge the two entries",
    };
  }
}
