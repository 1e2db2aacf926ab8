import type { Diagnostic, Severity } from "./diagnostics.js";
import { dotted, type Locations, locate, pointer } from "./locations.js";

/**
 * What a semantic rule sees: the merged policy and where each value came
 * from. Rules run even when the schema stage found problems (so one run
 * reports everything), hence every read goes through the guards below.
 */
export interface RuleContext {
  raw: Record<string, unknown>;
  locations: Locations;
  /** Source text of numeric scalars by JSON pointer. */
  numbers: Map<string, string>;
  /** Where a dir-level problem is reported when no file locates it. */
  fallbackFile: string;
}

export type Rule = (ctx: RuleContext) => Diagnostic[];

export type Path = readonly (string | number)[];

export interface Problem {
  code: string;
  message: string;
  hint?: string | undefined;
  severity?: Severity;
  /** Point at the key naming the value instead of the value itself. */
  atKey?: boolean;
}

export function problem(ctx: RuleContext, path: Path, p: Problem): Diagnostic {
  const ptr = pointer(path);
  const loc = locate(ctx.locations, ptr);
  const pos = loc ? (p.atKey ? (loc.key ?? loc.value) : loc.value) : { line: 1, column: 1 };
  return {
    severity: p.severity ?? "error",
    code: p.code,
    message: p.message,
    file: loc?.file ?? ctx.fallbackFile,
    line: pos.line,
    column: pos.column,
    path: dotted(ptr),
    ...(p.hint ? { hint: p.hint } : {}),
  };
}

export const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Entries of a map, or none when the value is not one (the schema stage reports that). */
export function entriesOf(v: unknown): [string, unknown][] {
  return isMap(v) ? Object.entries(v) : [];
}

const listed = new WeakMap<RuleContext, Map<string, [string, unknown][]>>();

/**
 * Entries of a top-level section (`customers`, `plans`), listed once per rule
 * run however many rules walk it: a policy may hold fifty thousand customers.
 */
export function sectionEntries(ctx: RuleContext, section: string): [string, unknown][] {
  let sections = listed.get(ctx);
  if (!sections) {
    sections = new Map();
    listed.set(ctx, sections);
  }
  let entries = sections.get(section);
  if (!entries) {
    entries = entriesOf(ctx.raw[section]);
    sections.set(section, entries);
  }
  return entries;
}

export function mapOf(v: unknown): Record<string, unknown> {
  return isMap(v) ? v : Object.create(null);
}

export function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

export function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function has(obj: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(obj, key) && obj[key] !== undefined;
}

/** Ids defined in a top-level section (a set: rules look ids up once per reference). */
export function idsOf(ctx: RuleContext, section: string): Set<string> {
  return new Set(Object.keys(mapOf(ctx.raw[section])));
}

/** `a, b, c` for a hint, cut short past `max` names (a policy may define thousands). */
export function listNames(names: Iterable<string>, max = 10): string {
  const out: string[] = [];
  let more = 0;
  for (const n of names) {
    if (out.length < max) out.push(n);
    else more++;
  }
  if (out.length === 0) return "none";
  return more > 0 ? `${out.join(", ")} and ${more} more` : out.join(", ");
}
