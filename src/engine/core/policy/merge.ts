import type { Diagnostic } from "./diagnostics.js";
import { type Location, type Locations, pointer } from "./locations.js";
import type { Fragment } from "./source.js";

/** Sections whose entries are ids: fragments add entries; the same id twice is an error. */
export const ID_SECTIONS = ["meters", "credit_units", "plans", "customers", "alerts", "channels"] as const;

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

  // Pointers this fragment contributes (`/plans/pro`, `/timezone`): its positions and numbers below them are adopted.
  const adopted = new Set<string>();
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
    adopted.clear();
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
          adopted.add(ptr);
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
      adopted.add(sectionPtr);
    }
    if (fragments.length === 1) return { raw, ...adoptAll(fragment), diagnostics };
    // One pass over the fragment's positions: each belongs to the entry or section its pointer starts with.
    for (const [ptr, loc] of fragment.locations) if (owned(adopted, ptr)) locations.set(ptr, loc);
    for (const [ptr, text] of fragment.numbers) if (owned(adopted, ptr)) numbers.set(ptr, text);
  }
  return { raw, locations, numbers, diagnostics };
}

/**
 * A lone fragment's positions and numbers: all of them but the root's and
 * those of an id section that is not a map (which the merge leaves out). The
 * merge takes the fragment's own maps rather than copying them (a large
 * policy has a position per value); nothing reads a fragment's positions
 * once it is merged.
 */
function adoptAll(fragment: Fragment): Pick<MergedPolicy, "locations" | "numbers"> {
  const { locations, numbers } = fragment;
  const left = [""];
  for (const section of ID_SECTIONS) {
    const value = fragment.value?.[section];
    if (value === undefined || isMap(value)) continue;
    const ptr = pointer([section]);
    left.push(ptr);
    if (value !== null && typeof value === "object") {
      for (const p of locations.keys()) if (p.startsWith(`${ptr}/`)) left.push(p);
    }
  }
  for (const ptr of left) {
    locations.delete(ptr);
    numbers.delete(ptr);
  }
  return { locations, numbers };
}

/** Whether `ptr` is at or below an adopted `/section` or `/section/id` pointer. */
function owned(adopted: ReadonlySet<string>, ptr: string): boolean {
  const second = ptr.indexOf("/", 1);
  if (second === -1) return adopted.has(ptr);
  if (adopted.has(ptr.slice(0, second))) return true;
  const third = ptr.indexOf("/", second + 1);
  return adopted.has(third === -1 ? ptr : ptr.slice(0, third));
}
