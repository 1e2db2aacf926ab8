import {
  Composer,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  Parser,
  visit,
  YAMLParseError,
} from "yaml";
import type { Diagnostic } from "./diagnostics.js";
import { dotted, type Location, type Locations, pointer } from "./locations.js";
import { scanTokens } from "./nesting.js";

/**
 * Refuse files larger than this before parsing them, by default: it bounds
 * memory (validating takes about 150 bytes of memory per byte of YAML) while a
 * 10 MB policy of 50,000 customers still fits in one file. Callers may pass
 * another limit (`LIMITR_MAX_POLICY_FILE_MIB` for the CLI).
 */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** yaml's alias-expansion guard: a handful of legitimate anchors pass, a billion-laughs file does not. */
const MAX_ALIAS_COUNT = 100;
/** No policy nests this deep; the limit keeps hostile input from exhausting the stack. */
const MAX_DEPTH = 64;

export interface PolicyFile {
  path: string;
  /** File contents; bytes are decoded as strict UTF-8. */
  text: string | Uint8Array;
  /** Set when the file could not be read as part of the policy (a symlink leaving the directory, a loop): reported as is. */
  problem?: { code: string; message: string; hint?: string };
}

/** One parsed file: its plain data, where each value came from, and the source text of every number. */
export interface Fragment {
  file: string;
  /** The top-level map (built without prototypes), or null when the file is empty or unusable. */
  value: Record<string, unknown> | null;
  locations: Locations;
  /** JSON pointer -> source text of numeric scalars, so money never passes through a float. */
  numbers: Map<string, string>;
  diagnostics: Diagnostic[];
}

function fileError(
  file: string,
  code: string,
  message: string,
  line = 1,
  column = 1,
  hint?: string,
): Diagnostic {
  return { severity: "error", code, message, file, line, column, path: "", ...(hint ? { hint } : {}) };
}

function decode(file: PolicyFile, maxBytes: number): string | Diagnostic {
  if (typeof file.text === "string") {
    if (file.text.length > maxBytes) return tooLarge(file.path, file.text.length, maxBytes);
    return file.text;
  }
  if (file.text.byteLength > maxBytes) return tooLarge(file.path, file.text.byteLength, maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(file.text);
  } catch {
    return fileError(file.path, "yaml/encoding", "the file is not valid UTF-8", 1, 1, "save it as UTF-8");
  }
}

function tooLarge(path: string, size: number, maxBytes: number): Diagnostic {
  const mib = (n: number) => `${Number((n / 1024 / 1024).toFixed(1))} MiB`;
  return fileError(
    path,
    "yaml/too-large",
    `the file is ${mib(size)}; policy files are limited to ${mib(maxBytes)}`,
    1,
    1,
    "split the policy into several files, or raise the limit with LIMITR_MAX_POLICY_FILE_MIB",
  );
}

/** Parse one policy file with positions. Never throws on bad input: problems come back as diagnostics. */
export function parseFragment(file: PolicyFile, maxBytes: number = MAX_FILE_BYTES): Fragment {
  const fragment: Fragment = {
    file: file.path,
    value: null,
    locations: new Map(),
    numbers: new Map(),
    diagnostics: [],
  };
  if (file.problem) {
    const { code, message, hint } = file.problem;
    fragment.diagnostics.push(fileError(file.path, code, message, 1, 1, hint));
    return fragment;
  }
  const text = decode(file, maxBytes);
  if (typeof text !== "string") {
    fragment.diagnostics.push(text);
    return fragment;
  }
  const lines = new LineCounter();
  const pos = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const parsed = parseYaml(text, lines);
  if (typeof parsed === "number") {
    const at = pos(parsed);
    fragment.diagnostics.push(
      fileError(
        file.path,
        "yaml/too-deep",
        `the document nests deeper than ${MAX_DEPTH} levels`,
        at.line,
        at.column,
        "policies need a few levels; flatten this value",
      ),
    );
    return fragment;
  }
  const { doc, aliases } = parsed;
  for (const e of doc.errors) {
    const at = pos(e.pos[0]);
    fragment.diagnostics.push(
      fileError(
        file.path,
        "yaml/syntax",
        yamlMessage(e.code, e.message),
        at.line,
        at.column,
        yamlHint(e.code),
      ),
    );
  }
  if (fragment.diagnostics.length > 0) return fragment;
  for (const w of doc.warnings) {
    const at = pos(w.pos[0]);
    const d = fileError(
      file.path,
      "yaml/warning",
      yamlMessage(w.code, w.message),
      at.line,
      at.column,
      yamlHint(w.code),
    );
    fragment.diagnostics.push({ ...d, severity: "warning" });
  }
  if (aliases && !safeAliases(doc)) {
    let at = { line: 1, column: 1 };
    visit(doc, {
      Alias(_, node) {
        if (node.range) at = pos(node.range[0]);
        return visit.BREAK;
      },
    });
    fragment.diagnostics.push(
      fileError(
        file.path,
        "yaml/alias-limit",
        "aliases expand to too many nodes; refusing to load (possible billion-laughs file)",
        at.line,
        at.column,
        "inline the repeated values instead of nesting aliases",
      ),
    );
    return fragment;
  }

  const resolving = new Set<Node>();
  const duplicates: Diagnostic[] = [];
  let tooDeep = false;
  const build = (node: unknown, ptr: string, key?: Location["key"], depth = 0): unknown => {
    const n = node as Node | null;
    if (depth > MAX_DEPTH) {
      tooDeep = true;
      return null;
    }
    const loc: Location = {
      file: file.path,
      value: n?.range ? pos(n.range[0]) : (key ?? { line: 1, column: 1 }),
    };
    if (key) loc.key = key;
    if (n && isAlias(n)) {
      const target = n.resolve(doc) as Node | undefined;
      if (!target || resolving.has(target)) {
        tooDeep = true;
        return null;
      }
      resolving.add(target);
      const v = build(target, ptr, key ?? loc.value, depth + 1);
      resolving.delete(target);
      return v;
    }
    if (n && isScalar(n)) loc.style = n.type;
    fragment.locations.set(ptr, loc);
    if (n === null || n === undefined) return null;
    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === "number" || typeof v === "bigint") {
        const source = n.range ? text.slice(n.range[0], n.range[1]).trim() : String(v);
        fragment.numbers.set(ptr, source);
        // .inf / .nan are numbers to YAML but not to a price list: keep their text so the schema rejects them.
        return typeof v === "bigint" ? Number(v) : Number.isFinite(v) ? v : source;
      }
      return v instanceof Date ? v.toISOString().slice(0, 10) : v;
    }
    if (isSeq(n)) return n.items.map((item, i) => build(item, `${ptr}${pointer([i])}`, undefined, depth + 1));
    if (isMap(n)) {
      const out: Record<string, unknown> = Object.create(null);
      for (const pair of n.items) {
        const k = pair.key as Node | null;
        const keyPos = k?.range ? pos(k.range[0]) : loc.value;
        if (!isScalar(k) || (k.value !== null && typeof k.value === "object")) {
          fragment.diagnostics.push(
            fileError(
              file.path,
              "yaml/complex-key",
              "map keys must be plain names",
              keyPos.line,
              keyPos.column,
            ),
          );
          continue;
        }
        const name = k.value === null ? "" : String(k.value);
        const keyPtr = `${ptr}${pointer([name])}`;
        if (Object.hasOwn(out, name)) {
          const first = fragment.locations.get(keyPtr);
          duplicates.push(duplicateKey(file.path, name, ptr, keyPos, first?.key ?? first?.value));
          continue;
        }
        out[name] = build(pair.value, keyPtr, keyPos, depth + 1);
      }
      return out;
    }
    return null;
  };

  const root = build(doc.contents, "");
  if (duplicates.length > 0) {
    // Which of the two values was meant is unknowable: the file is unusable, like any other YAML error.
    fragment.diagnostics.push(...duplicates);
    return fragment;
  }
  if (tooDeep) {
    fragment.diagnostics.push(
      fileError(
        file.path,
        "yaml/too-deep",
        `the document nests deeper than ${MAX_DEPTH} levels or an alias refers to itself`,
      ),
    );
    return fragment;
  }
  if (root === null) return fragment;
  if (typeof root !== "object" || Array.isArray(root)) {
    const at = fragment.locations.get("")?.value ?? { line: 1, column: 1 };
    const what = Array.isArray(root) ? "a list" : "a single value";
    fragment.diagnostics.push(
      fileError(
        file.path,
        "yaml/not-a-map",
        `a policy file must be a map of sections (limitr, meters, plans, ...), not ${what}`,
        at.line,
        at.column,
      ),
    );
    return fragment;
  }
  fragment.value = root as Record<string, unknown>;
  return fragment;
}

/**
 * One YAML 1.2 document with positions, or the offset of a collection nested
 * too deeply (checked on the tokens, before the recursive composer runs).
 * Duplicate keys are left to the builder, which knows their path.
 */
function parseYaml(text: string, lines: LineCounter): { doc: Document.Parsed; aliases: boolean } | number {
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  const { tooDeepAt, aliases } = scanTokens(tokens, MAX_DEPTH);
  if (tooDeepAt !== null) return tooDeepAt;
  const composer = new Composer({ uniqueKeys: false, version: "1.2" });
  let doc: Document.Parsed | null = null;
  for (const next of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = next;
    else {
      const range = next.range;
      doc.errors.push(new YAMLParseError([range[0], range[1]], "MULTIPLE_DOCS", "several documents"));
      break;
    }
  }
  // compose(..., forceDoc = true) always yields a document, even for an empty file.
  return { doc: doc as Document.Parsed, aliases };
}

function duplicateKey(
  file: string,
  name: string,
  mapPtr: string,
  at: { line: number; column: number },
  first: { line: number } | undefined,
): Diagnostic {
  const where = mapPtr === "" ? "at the top level" : `in ${dotted(mapPtr)}`;
  const earlier = first ? ` (first at line ${first.line})` : "";
  return {
    ...fileError(
      file,
      "yaml/syntax",
      `duplicate key "${name}" ${where}${earlier}`,
      at.line,
      at.column,
      "each key may appear once in a map; merge the two entries",
    ),
    path: dotted(`${mapPtr}${pointer([name])}`),
  };
}

function safeAliases(doc: Document.Parsed): boolean {
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT, mapAsMap: true });
    return true;
  } catch (e) {
    if (e instanceof ReferenceError && /alias/i.test(e.message)) return false;
    throw e;
  }
}

function yamlMessage(code: string, message: string): string {
  if (code === "MULTIPLE_DOCS") return "a policy file holds one YAML document, but this one has several";
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "MULTIPLE_DOCS":
      return "remove the `---` separator, or split the documents into separate files";
    case "TAG_RESOLVE_FAILED":
      return "policies use plain YAML values; remove the tag";
    case "BAD_INDENT":
    case "MISSING_CHAR":
      return "check the indentation of this line against its parent";
    default:
      return undefined;
  }
}
