/**
 * One entry of an id section (`customers:`), read directly when it is written
 * in the plain subset of YAML that large generated policies use: block maps of
 * plain keys, one-line flow maps and lists, plain scalars made of letters,
 * digits and `_ . - / @ +` and spaces, decimal numbers, and quoted strings
 * without escapes. yaml's lexer, parser and composer spend about a
 * microsecond per token; this reads the same entry in a fraction of that.
 *
 * It is a filter, not a second YAML parser: anything outside that subset
 * (a block list, an anchor, a tag, a multi-line or empty value, a key that is
 * a number or a boolean, a `+1` or `1e3` or `0x1f`, an escape, a duplicate
 * key, a `\r`) returns null and the entry goes to yaml as before. What it does
 * accept resolves exactly as YAML 1.2's core schema does (yaml's `int`,
 * `float`, `bool` and `null` tags), and it records the same values, number
 * texts and locations as the yaml path: a property test compares the two.
 */

import { escapeSegment } from "./locations.js";

/** What one entry recorded: pointer, value offset, key offset (-1: none) and scalar style, in a flat list. */
export interface PlainEntry {
  id: string;
  keyAt: number;
  value: unknown;
  /** [pointer, valueAt, keyAt (-1: none), style] repeated; empty unless asked for. */
  locations: (string | number | undefined)[];
  /** [pointer, source text] repeated. */
  numbers: string[];
}

const SPACE = 32;
const HASH = 35;
const COLON = 58;

/** A plain key: a name, or a small decimal integer written without a leading zero (yaml turns `7` into "7"). */
const KEY = /[A-Za-z_][A-Za-z0-9_.-]*|(?:0|[1-9][0-9]{0,14})(?![0-9A-Za-z_.-])/y;
const WORD_KEY = /^(?:~|[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
/** Plain scalar text this reader resolves itself; anything else goes to yaml. */
const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_./@+ -]*$/;
const NULL = /^(?:~|[Nn]ull|NULL)$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const INT = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+\.[0-9]+$/;
/** Starts like a number but is not one of the two forms above: yaml may read it as a float, octal or hex. */
const NUMERIC_START = /^[-+.0-9]/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

/** Thrown inside the reader to give the entry back to yaml; never escapes `readPlainEntry`. */
const NOT_PLAIN = Symbol("not plain");

class Reader {
  readonly locations: (string | number | undefined)[] = [];
  readonly numbers: string[] = [];

  constructor(
    private readonly text: string,
    private readonly end: number,
    private readonly maxDepth: number,
    private readonly withLocations: boolean,
  ) {}

  private checkDepth(depth: number): void {
    // Two levels of margin under the limit, so nothing near it is decided here rather than by yaml.
    if (depth > this.maxDepth - 2) throw NOT_PLAIN;
  }

  /** Offset of the first non-space character of the line at `at`, or of its end. */
  private firstNonSpace(at: number): number {
    let i = at;
    while (i < this.end && this.text.charCodeAt(i) === SPACE) i++;
    return i;
  }

  private lineEnd(at: number): number {
    const eol = this.text.indexOf("\n", at);
    const e = eol === -1 || eol > this.end ? this.end : eol;
    if (e > at && this.text.charCodeAt(e - 1) === 13) throw NOT_PLAIN;
    return e;
  }

  /** The next line at or after `at` holding more than spaces and a comment: [line start, first char], or null. */
  private nextContent(at: number): [number, number] | null {
    for (let line = at; line < this.end; ) {
      const i = this.firstNonSpace(line);
      const eol = this.lineEnd(line);
      if (i < eol && this.text.charCodeAt(i) !== HASH) return [line, i];
      line = eol + 1;
    }
    return null;
  }

  private key(at: number): string {
    KEY.lastIndex = at;
    const m = KEY.exec(this.text);
    if (!m || WORD_KEY.test(m[0])) throw NOT_PLAIN;
    return m[0];
  }

  private record(ptr: string, valueAt: number, keyAt: number, style: string | undefined): void {
    if (this.withLocations) this.locations.push(ptr, valueAt, keyAt, style);
  }

  /** A block map whose keys sit at column `indent`, from the line at `at`: its value and where it stopped. */
  blockMap(
    at: number,
    indent: number,
    ptr: string,
    depth: number,
  ): { value: Record<string, unknown>; next: number } {
    this.checkDepth(depth);
    const out: Record<string, unknown> = Object.create(null);
    let line = at;
    for (let content = this.nextContent(line); content; content = this.nextContent(line)) {
      const [start, i] = content;
      if (i - start < indent) break;
      if (i - start > indent) throw NOT_PLAIN;
      const name = this.key(i);
      let p = i + name.length;
      if (this.text.charCodeAt(p) !== COLON) throw NOT_PLAIN;
      p++;
      const eol = this.lineEnd(p);
      if (p < eol && this.text.charCodeAt(p) !== SPACE) throw NOT_PLAIN;
      if (Object.hasOwn(out, name)) throw NOT_PLAIN;
      const keyPtr = `${ptr}/${escapeSegment(name)}`;
      while (p < eol && this.text.charCodeAt(p) === SPACE) p++;
      if (p === eol || this.text.charCodeAt(p) === HASH) {
        // A nested block map on the lines below.
        const child = this.nextContent(eol + 1);
        if (!child) throw NOT_PLAIN;
        const [childLine, childAt] = child;
        if (childAt - childLine <= indent) throw NOT_PLAIN;
        this.record(keyPtr, childAt, i, undefined);
        const nested = this.blockMap(childLine, childAt - childLine, keyPtr, depth + 1);
        out[name] = nested.value;
        line = nested.next;
        continue;
      }
      const read = this.value(p, eol, keyPtr, i, depth + 1, false);
      out[name] = read.value;
      this.lineRest(read.next, eol);
      line = eol + 1;
    }
    return { value: out, next: Math.min(line, this.end) };
  }

  /** After a value on its line: nothing but spaces, then an optional comment after a space. */
  private lineRest(from: number, eol: number): void {
    let p = from;
    while (p < eol && this.text.charCodeAt(p) === SPACE) p++;
    if (p === eol) return;
    if (this.text.charCodeAt(p) !== HASH || p === from) throw NOT_PLAIN;
  }

  /** One value starting at `at` (not a space) and ending by `eol`, recorded under `ptr`. */
  private value(
    at: number,
    eol: number,
    ptr: string,
    keyAt: number,
    depth: number,
    flow: boolean,
  ): { value: unknown; next: number } {
    this.checkDepth(depth);
    const c = this.text[at];
    if (c === "{") return this.flowMap(at, eol, ptr, keyAt, depth);
    if (c === "[") return this.flowSeq(at, eol, ptr, keyAt, depth);
    if (c === '"' || c === "'") {
      let close = at + 1;
      while (close < eol && this.text[close] !== c) close++;
      if (close >= eol) throw NOT_PLAIN;
      const inner = this.text.slice(at + 1, close);
      if (c === '"' && inner.includes("\\")) throw NOT_PLAIN;
      if (c === "'" && this.text[close + 1] === "'") throw NOT_PLAIN;
      this.record(ptr, at, keyAt, c === '"' ? "QUOTE_DOUBLE" : "QUOTE_SINGLE");
      return { value: inner, next: close + 1 };
    }
    // A plain scalar: to the end of the line or a comment, or in a flow collection to `,` `}` `]`.
    let stop = at;
    if (flow) {
      while (stop < eol) {
        const ch = this.text.charCodeAt(stop);
        if (ch === 44 || ch === 125 || ch === 93) break;
        stop++;
      }
    } else {
      // A comment starts at a `#` after a space; the line is short, so look only within it.
      while (stop < eol && !(this.text.charCodeAt(stop) === HASH && this.text.charCodeAt(stop - 1) === SPACE))
        stop++;
      if (stop < eol) stop--;
    }
    let last = stop;
    while (last > at && this.text.charCodeAt(last - 1) === SPACE) last--;
    const source = this.text.slice(at, last);
    const value = this.resolve(source, ptr);
    this.record(ptr, at, keyAt, "PLAIN");
    return { value, next: last };
  }

  /** A plain scalar's value under YAML 1.2's core schema, for the forms this reader admits. */
  private resolve(source: string, ptr: string): unknown {
    const int = INT.test(source);
    if (int || DECIMAL.test(source)) {
      // yaml's core `int` and `float` tags: parseInt(text, 10) and parseFloat(text).
      const n = int ? Number.parseInt(source, 10) : Number.parseFloat(source);
      this.numbers.push(ptr, source);
      return Number.isFinite(n) ? n : source;
    }
    if (!PLAIN.test(source)) throw NOT_PLAIN;
    if (NULL.test(source)) return null;
    if (TRUE.test(source)) return true;
    if (FALSE.test(source)) return false;
    if (NUMERIC_START.test(source) && !DATE.test(source)) throw NOT_PLAIN;
    return source;
  }

  private flowMap(at: number, eol: number, ptr: string, keyAt: number, depth: number) {
    this.record(ptr, at, keyAt, undefined);
    const out: Record<string, unknown> = Object.create(null);
    let p = this.skipSpaces(at + 1, eol);
    if (this.text[p] === "}") return { value: out, next: p + 1 };
    for (;;) {
      const name = this.key(p);
      const k = p;
      p += name.length;
      if (this.text.charCodeAt(p) !== COLON || this.text.charCodeAt(p + 1) !== SPACE) throw NOT_PLAIN;
      if (Object.hasOwn(out, name)) throw NOT_PLAIN;
      p = this.skipSpaces(p + 1, eol);
      if (p >= eol) throw NOT_PLAIN;
      const read = this.value(p, eol, `${ptr}/${escapeSegment(name)}`, k, depth + 1, true);
      out[name] = read.value;
      p = this.skipSpaces(read.next, eol);
      const ch = this.text[p];
      if (p >= eol) throw NOT_PLAIN;
      if (ch === "}") return { value: out, next: p + 1 };
      if (ch !== ",") throw NOT_PLAIN;
      p = this.skipSpaces(p + 1, eol);
      if (p >= eol || this.text[p] === "}") throw NOT_PLAIN;
    }
  }

  private flowSeq(at: number, eol: number, ptr: string, keyAt: number, depth: number) {
    this.record(ptr, at, keyAt, undefined);
    const out: unknown[] = [];
    let p = this.skipSpaces(at + 1, eol);
    if (this.text[p] === "]") return { value: out, next: p + 1 };
    for (;;) {
      if (p >= eol) throw NOT_PLAIN;
      const read = this.value(p, eol, `${ptr}/${out.length}`, -1, depth + 1, true);
      out.push(read.value);
      p = this.skipSpaces(read.next, eol);
      const ch = this.text[p];
      if (p >= eol) throw NOT_PLAIN;
      if (ch === "]") return { value: out, next: p + 1 };
      if (ch !== ",") throw NOT_PLAIN;
      p = this.skipSpaces(p + 1, eol);
      if (p >= eol || this.text[p] === "]") throw NOT_PLAIN;
    }
  }

  private skipSpaces(at: number, eol: number): number {
    let p = at;
    while (p < eol && this.text.charCodeAt(p) === SPACE) p++;
    return p;
  }
}

/**
 * The entry of `text` between `start` and `end` (a key at column `indent` and
 * everything under it), under the section pointer `sectionPtr`; null when it
 * is not in the plain subset and must go through yaml. Its locations are
 * recorded only `withLocations`.
 */
export function readPlainEntry(
  text: string,
  start: number,
  end: number,
  indent: number,
  sectionPtr: string,
  maxDepth: number,
  withLocations: boolean,
): PlainEntry | null {
  const reader = new Reader(text, end, maxDepth, withLocations);
  try {
    const { value, next } = reader.blockMap(start, indent, sectionPtr, 1);
    const keys = Object.keys(value);
    if (keys.length !== 1 || next < end) return null;
    const id = keys[0] as string;
    const keyAt = start + indent;
    return { id, keyAt, value: value[id], locations: reader.locations, numbers: reader.numbers };
  } catch (e) {
    if (e === NOT_PLAIN) return null;
    throw e;
  }
}
