import type { CompiledPolicy } from "../model.js";

/** A structural difference before classification. */
export interface RawChange {
  kind: "add" | "remove" | "change";
  segments: string[];
  before: unknown;
  after: unknown;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/** Top-level fields derived from others (or fixed) that would only repeat a change already shown. */
const DERIVED = new Set(["formatVersion", "currencyDigits"]);

/**
 * Lists whose elements have an identity of their own are compared by key,
 * not by position, so removing the first discount is one removal rather than
 * a cascade of changes. Keyed by the name of the list field.
 */
const KEYED_LISTS: Record<string, (item: Obj, index: number) => string> = {
  discounts: (d) => (typeof d.entitlement === "string" ? d.entitlement : "invoice"),
  credits: (c, i) => (typeof c.id === "string" ? c.id : `#${i + 1}`),
};

/** Maps a compiled policy leaves out when empty: absent compares as empty, so each entry is its own change. */
const OPTIONAL_MAPS = new Set(["creditUnits", "caps"]);

/**
 * Lists of ids that are sets (a contract's add-ons): each id added or removed
 * is its own change (`customers.acme.addOns.gpu-pack`); absent compares as empty.
 */
const ID_SETS = new Set(["addOns"]);

function idSet(list: unknown): Obj {
  const out: Obj = {};
  for (const id of Array.isArray(list) ? list : []) out[String(id)] = id;
  return out;
}

/** Objects whose variant tag changed are replaced whole: field-by-field output would mix two shapes. */
function variantChanged(a: Obj, b: Obj): boolean {
  return (
    ("kind" in a && a.kind !== b.kind) ||
    ("model" in a && a.model !== b.model) ||
    ("type" in a && "url" in a && a.type !== b.type)
  );
}

function keyed(list: unknown[], keyOf: (item: Obj, index: number) => string): Obj {
  const out: Obj = {};
  list.forEach((item, i) => {
    let key = isObj(item) ? keyOf(item, i) : `#${i + 1}`;
    while (key in out) key = `${key}#${i + 1}`;
    out[key] = item;
  });
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function walk(segments: string[], a: unknown, b: unknown, out: RawChange[]): void {
  if (same(a, b)) return;
  const field = segments[segments.length - 1] ?? "";
  if (ID_SETS.has(field) && Array.isArray(a) && Array.isArray(b)) {
    walkObject(segments, idSet(a), idSet(b), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const keyOf = KEYED_LISTS[field];
    if (keyOf) {
      walkObject(segments, keyed(a, keyOf), keyed(b, keyOf), out);
      return;
    }
    // Ordered lists of objects (tiers) compare by position; lists of scalars change as a whole.
    if (a.concat(b).every(isObj)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const seg = [...segments, `[${i}]`];
        if (i >= a.length) out.push({ kind: "add", segments: seg, before: null, after: b[i] });
        else if (i >= b.length) out.push({ kind: "remove", segments: seg, before: a[i], after: null });
        else walk(seg, a[i], b[i], out);
      }
      return;
    }
  }
  if (isObj(a) && isObj(b) && !variantChanged(a, b)) {
    walkObject(segments, a, b, out);
    return;
  }
  out.push({ kind: "change", segments, before: a ?? null, after: b ?? null });
}

function walkObject(segments: string[], a: Obj, b: Obj, out: RawChange[]): void {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const key of keys) {
    if (segments.length === 0 && DERIVED.has(key)) continue;
    const seg = [...segments, key];
    const inA = key in a && a[key] !== undefined;
    const inB = key in b && b[key] !== undefined;
    if (OPTIONAL_MAPS.has(key) && inA !== inB) walk(seg, a[key] ?? {}, b[key] ?? {}, out);
    else if (ID_SETS.has(key) && inA !== inB) walk(seg, a[key] ?? [], b[key] ?? [], out);
    else if (inA && !inB) out.push({ kind: "remove", segments: seg, before: a[key], after: null });
    else if (!inA && inB) out.push({ kind: "add", segments: seg, before: null, after: b[key] });
    else walk(seg, a[key], b[key], out);
  }
}

/** Every structural difference between two compiled policies, in a stable order. */
export function structuralChanges(base: CompiledPolicy, head: CompiledPolicy): RawChange[] {
  const out: RawChange[] = [];
  walkObject([], base as unknown as Obj, head as unknown as Obj, out);
  return out;
}

/** `plans.pro.entitlements.chat_input.price.tiers[1].unitPrice` */
export function pathString(segments: string[]): string {
  return segments.reduce((acc, s) => (s.startsWith("[") ? `${acc}${s}` : acc ? `${acc}.${s}` : s), "");
}

/** The resource a path belongs to: entitlements are resources of their own, plan fields belong to the plan. */
export function resourceOf(segments: string[]): string[] {
  const [section] = segments;
  if (section === "plans" && segments[2] === "entitlements" && segments.length >= 4)
    return segments.slice(0, 4);
  // Spend caps are resources of their own, like entitlements.
  if ((section === "plans" || section === "customers") && segments[2] === "caps" && segments.length >= 4)
    return segments.slice(0, 4);
  if (
    ["meters", "creditUnits", "plans", "customers", "alerts", "channels"].includes(section ?? "") &&
    segments.length >= 2
  ) {
    return segments.slice(0, 2);
  }
  return ["policy"];
}
