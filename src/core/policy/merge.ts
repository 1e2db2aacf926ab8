import type { Diagnostic } from "./diagnostics.js";
import { type Location, type Locations, pointer } from "./locations.js";
import type { Fragment } from "./source.js";

/** Sections whose entries are ids: fragments add entries; the same id twice is an error. */
export const ID_SECTIONS = ["meters", "plans", "customers", "alerts", "channels"] as const;

export interface MergedPolicy {
  /** The merged document (objects without prototypes). */
  raw: Record<string, unknown>;
  locations: Locations;
  numbers: Map<string, string>;
  diagnostics: Diagnostic[];
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function where(loc: Location | undefined): string {
  if (!loc) return "?";
  const p = loc.key ?? loc.value;
  return `${loc.file}:${p.line}:${p.column}`;
}

/** Merge fragments by top-level section (SPEC §2). Positions follow each value to the file it came from. */
export function mergeFragments(fragments: readonly Fragment[]): MergedPolicy {
  const raw: Record<string, unknown> = Object.create(null);
  const locations: Locations = new Map();
  const numbers = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const owner = new Map<string, Fragment>();

  const adopt = (fragment: Fragment, prefix: string) => {
    for (const [ptr, loc] of fragment.locations) {
      if (ptr === prefix || ptr.startsWith(`${prefix}/`)) locations.set(ptr, loc);
    }
    for (const [ptr, text] of fragment.numbers) {
      if (ptr === prefix || ptr.startsWith(`${prefix}/`)) numbers.set(ptr, text);
    }
  };
  const duplicate = (ptr: string, label: string, first: Fragment, second: Fragment) => {
    const a = first.locations.get(ptr);
    const b = second.locations.get(ptr);
    const at = b?.key ?? b?.value ?? { line: 1, column: 1 };
    diagnostics.push({
      severity: "error",
      code: "policy/duplicate-id",
      message: `${label} is defined twice: ${where(a)} and ${where(b)}`,
      file: second.file,
      line: at.line,
      column: at.column,
      path: label,
      hint: "keep one definition; fragments are merged by section and ids must be unique",
    });
  };

  for (const fragment of fragments) {
    if (!fragment.value) continue;
    for (const [section, value] of Object.entries(fragment.value)) {
      const sectionPtr = pointer([section]);
      const isIdSection = (ID_SECTIONS as readonly string[]).includes(section);
      if (isIdSection && isMap(value)) {
        const target = isMap(raw[section]) ? (raw[section] as Record<string, unknown>) : Object.create(null);
        raw[section] = target;
        if (!locations.has(sectionPtr)) {
          const loc = fragment.locations.get(sectionPtr);
          if (loc) locations.set(sectionPtr, loc);
        }
        for (const [id, entry] of Object.entries(value)) {
          const ptr = `${sectionPtr}${pointer([id])}`;
          const first = owner.get(ptr);
          if (first) {
            duplicate(ptr, `${section}.${id}`, first, fragment);
            continue;
          }
          owner.set(ptr, fragment);
          target[id] = entry;
          adopt(fragment, ptr);
        }
        continue;
      }
      // An empty section (`plans:`) adds nothing; any other non-map was reported by the schema stage.
      if (isIdSection) continue;
      const first = owner.get(sectionPtr);
      if (first) {
        duplicate(sectionPtr, section, first, fragment);
        continue;
      }
      owner.set(sectionPtr, fragment);
      raw[section] = value;
      adopt(fragment, sectionPtr);
    }
  }
  return { raw, locations, numbers, diagnostics };
}
