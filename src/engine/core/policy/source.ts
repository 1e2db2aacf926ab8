import { type Document, LineCounter, visit } from "yaml";
import type { Diagnostic } from "./diagnostics.js";
import { MAX_FILE_BYTES } from "./limits.js";
import type { Locations } from "./locations.js";
import { parseYaml } from "./nesting.js";
import { parseBySection } from "./sections.js";
import { Builder } from "./yaml-build.js";

export { MAX_FILE_BYTES };

/**
 * Files at least this large are parsed section by section (same result, a
 * fraction of the garbage); a smaller one parses whole in milliseconds, and a
 * broken one would be parsed twice.
 */
const SECTIONED_BYTES = 64 * 1024;
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
  const sectioned = text.length >= SECTIONED_BYTES ? parseBySection(file.path, text, MAX_DEPTH) : null;
  if (sectioned) {
    fragment.value = sectioned.root;
    fragment.locations = sectioned.locations;
    fragment.numbers = sectioned.numbers;
    return fragment;
  }
  return parseWhole(fragment, text);
}

/**
 * Parse `text` as one document into `fragment`, reporting every YAML problem.
 * (`parseFragment` first tries section by section, which gives the same result faster.)
 */
export function parseWhole(fragment: Fragment, text: string): Fragment {
  const file = { path: fragment.file };
  const lines = new LineCounter();
  const pos = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const parsed = parseYaml(text, lines.addNewLine, MAX_DEPTH);
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

  const builder = new Builder(file.path, lines.linePos, fragment.locations, fragment.numbers, MAX_DEPTH);
  const root = builder.build({ doc, text, base: 0 }, doc.contents, "");
  return finishFragment(fragment, builder, root);
}

/** The fragment once its root value is built: any problem the builder met, or the value if it is a map. */
export function finishFragment(fragment: Fragment, builder: Builder, root: unknown): Fragment {
  const { duplicates, tooDeep } = builder;
  fragment.diagnostics.push(...builder.diagnostics);
  if (duplicates.length > 0) {
    // Which of the two values was meant is unknowable: the file is unusable, like any other YAML error.
    fragment.diagnostics.push(...duplicates);
    return fragment;
  }
  if (tooDeep) {
    fragment.diagnostics.push(
      fileError(
        fragment.file,
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
        fragment.file,
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
