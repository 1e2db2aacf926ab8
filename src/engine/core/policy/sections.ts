import { isMap, LineCounter, type Node, type Pair } from "yaml";
import { DeferredLocations, type Locations, OffsetLocation, pointer } from "./locations.js";
import { ID_SECTIONS } from "./merge.js";
import { parseYaml } from "./nesting.js";
import { type PlainEntry, readPlainEntry } from "./plain-entry.js";
import { Builder, type Piece } from "./yaml-build.js";

/**
 * A policy file parsed one section at a time, and an id section (`customers:`)
 * one entry at a time. yaml's parser keeps every token of a document until it
 * ends, so one 10 MB document spends most of its time collecting garbage; many
 * small documents do not. The result is exactly what parsing the whole file
 * gives, because the split is only taken when it cannot change the meaning:
 * every piece must parse cleanly (no errors, warnings, aliases, duplicate or
 * complex keys) as a block map of one key. Anything else (a flow collection
 * or quoted string crossing a boundary, a `---`, a tab, an odd indent, an
 * alias to another section) returns null, and the caller parses the file whole,
 * which also reports its problems.
 */

interface Span {
  start: number;
  end: number;
}

interface Section extends Span {
  /** An id section written `customers:` on its own line: its entries, each parsed alone. */
  entries: Span[] | null;
  entryIndent: number;
}

const SECTION_START = /[A-Za-z0-9_]/;
const ENTRY_START = /[A-Za-z0-9_"']/;
const BARE_HEADER = /^([a-z_]+):[ ]*(#.*)?\r?$/;
const IDS = new Set<string>(ID_SECTIONS);

/** Top-level sections and id-section entries by their indentation, or null when the text is not that regular. */
export function splitSections(text: string): Section[] | null {
  const sections: Section[] = [];
  let current: Section | null = null;
  for (let at = 0; at < text.length; ) {
    let eol = text.indexOf("\n", at);
    if (eol === -1) eol = text.length;
    let i = at;
    while (i < eol && text.charCodeAt(i) === 32) i++;
    const c = text[i] ?? "";
    const indent = i - at;
    if (c === "\t") return null;
    if (i === eol || c === "#" || c === "\r") {
      at = eol + 1;
      continue;
    }
    if (indent === 0) {
      if (!SECTION_START.test(c)) return null;
      if (current) closeSection(current, at);
      const header = BARE_HEADER.exec(text.slice(at, eol));
      current = {
        // The first section also holds the comments above it, as the whole document would.
        start: sections.length === 0 ? 0 : at,
        end: text.length,
        entries: header && IDS.has(header[1] ?? "") ? [] : null,
        entryIndent: -1,
      };
      sections.push(current);
    } else if (!current) {
      return null;
    } else if (current.entries) {
      if (current.entryIndent === -1) current.entryIndent = indent;
      if (indent < current.entryIndent) return null;
      if (indent === current.entryIndent) {
        if (!ENTRY_START.test(c)) return null;
        const last = current.entries.at(-1);
        if (last) last.end = at;
        current.entries.push({ start: at, end: text.length });
      }
    }
    at = eol + 1;
  }
  if (current) closeSection(current, text.length);
  return sections;
}

function closeSection(section: Section, end: number): void {
  section.end = end;
  const last = section.entries?.at(-1);
  if (last) last.end = end;
}

export interface Sectioned {
  root: Record<string, unknown>;
  locations: Locations;
  numbers: Map<string, string>;
}

/** The file's data, locations and numbers, parsed by section; null when the file must be parsed whole. */
export function parseBySection(file: string, text: string, maxDepth: number): Sectioned | null {
  const sections = splitSections(text);
  if (!sections || sections.length === 0) return null;
  const lines = new LineCounter();
  let lastLine = -1;
  // Pieces meet at line starts: the end of one and the start of the next report the same line once.
  const addNewLine = (offset: number) => {
    if (offset > lastLine) lines.addNewLine(offset);
    lastLine = Math.max(lastLine, offset);
  };
  const locations = new DeferredLocations();
  const builder = new Builder(file, lines.linePos, locations, new Map(), maxDepth);
  const piece = (span: Span, depth: number): { piece: Piece; pair: Pair<Node | null, unknown> } | null => {
    const source = text.slice(span.start, span.end);
    const parsed = parseYaml(source, (o) => addNewLine(span.start + o), maxDepth - depth);
    if (typeof parsed === "number" || parsed.aliases) return null;
    const { doc } = parsed;
    if (doc.errors.length > 0 || doc.warnings.length > 0) return null;
    const map = doc.contents;
    if (!isMap(map) || map.flow || map.items.length !== 1) return null;
    return {
      piece: { doc, text: source, base: span.start },
      pair: map.items[0] as Pair<Node | null, unknown>,
    };
  };
  const keyAt = (p: Piece, pair: Pair<Node | null, unknown>) => p.base + (pair.key?.range?.[0] ?? 0);
  // An entry read without yaml: the line starts yaml's parser would have reported, and what it recorded.
  const lineStarts = (span: Span) => {
    addNewLine(span.start);
    for (let nl = text.indexOf("\n", span.start); nl !== -1 && nl < span.end; nl = text.indexOf("\n", nl + 1))
      addNewLine(nl + 1);
  };
  const locate = (plain: PlainEntry) => {
    const recorded = plain.locations;
    for (let j = 0; j < recorded.length; j += 4) {
      const keyOffset = recorded[j + 2] as number;
      locations.set(
        recorded[j] as string,
        new OffsetLocation(
          file,
          lines.linePos,
          recorded[j + 1] as number,
          keyOffset < 0 ? undefined : keyOffset,
          recorded[j + 3] as string | undefined,
        ),
      );
    }
  };

  const root: Record<string, unknown> = Object.create(null);
  for (const section of sections) {
    const entries = section.entries ?? [];
    const head = piece({ start: section.start, end: entries[0]?.start ?? section.end }, 0);
    if (!head) return null;
    const name = builder.keyName(head.pair.key, keyAt(head.piece, head.pair));
    if (name === null || Object.hasOwn(root, name)) return null;
    if (section === sections[0]) {
      const at = head.piece.base + (head.piece.doc.contents?.range?.[0] ?? 0);
      builder.locations.set("", new OffsetLocation(file, lines.linePos, at, undefined));
    }
    const sectionPtr = pointer([name]);
    if (entries.length === 0) {
      root[name] = builder.build(head.piece, head.pair.value, sectionPtr, keyAt(head.piece, head.pair), 1);
      continue;
    }
    const map: Record<string, unknown> = Object.create(null);
    root[name] = map;
    for (const [i, span] of entries.entries()) {
      const indent = section.entryIndent;
      const plain = readPlainEntry(text, span.start, span.end, indent, sectionPtr, maxDepth, false);
      if (plain) {
        if (i === 0) {
          const sectionKeyAt = keyAt(head.piece, head.pair);
          locations.set(sectionPtr, new OffsetLocation(file, lines.linePos, plain.keyAt, sectionKeyAt));
        }
        if (Object.hasOwn(map, plain.id)) return null;
        lineStarts(span);
        for (let j = 0; j < plain.numbers.length; j += 2)
          builder.numbers.set(plain.numbers[j] as string, plain.numbers[j + 1] as string);
        map[plain.id] = plain.value;
        // Its locations are worked out again, with positions, only if something asks for one.
        locations.defer(`${sectionPtr}${pointer([plain.id])}`, () => {
          const again = readPlainEntry(text, span.start, span.end, indent, sectionPtr, maxDepth, true);
          if (again) locate(again);
        });
        continue;
      }
      const entry = piece(span, 1);
      if (!entry) return null;
      const at = keyAt(entry.piece, entry.pair);
      if (i === 0) {
        // The section's map starts where its first entry does.
        const mapAt = entry.piece.base + (entry.piece.doc.contents?.range?.[0] ?? 0);
        const sectionKeyAt = keyAt(head.piece, head.pair);
        builder.locations.set(sectionPtr, new OffsetLocation(file, lines.linePos, mapAt, sectionKeyAt));
      }
      const id = builder.keyName(entry.pair.key, at);
      if (id === null || Object.hasOwn(map, id)) return null;
      map[id] = builder.build(entry.piece, entry.pair.value, `${sectionPtr}${pointer([id])}`, at, 2);
    }
  }
  const clean = builder.diagnostics.length === 0 && builder.duplicates.length === 0 && !builder.tooDeep;
  return clean ? { root, locations: builder.locations, numbers: builder.numbers } : null;
}
