/**
 * Where each value of a policy came from. Keys are JSON pointers
 * (`/plans/pro/entitlements/chat/limit`), the same form ajv reports, so a
 * schema error maps to its file:line:col without guessing.
 */
export interface Position {
  line: number;
  column: number;
}

export interface Location {
  file: string;
  /** Where the value starts. */
  value: Position;
  /** Where the key naming the value starts (absent for list items and the document root). */
  key?: Position;
  /** YAML scalar style (`PLAIN`, `QUOTE_DOUBLE`, ...), to locate columns inside a string. */
  style?: string;
}

export type Locations = Map<string, Location>;

/** 1-based line and column of a file offset (yaml's `LineCounter.linePos`). */
export type LinePos = (offset: number) => { line: number; col: number };

/**
 * A location kept as file offsets and turned into line and column only when
 * read: a large policy has a location per value, and only the few that end up
 * in a diagnostic are ever read.
 */
export class OffsetLocation implements Location {
  constructor(
    readonly file: string,
    private readonly linePos: LinePos,
    private readonly valueAt: number,
    private readonly keyAt: number | undefined,
    readonly style?: string,
  ) {}

  get value(): Position {
    const p = this.linePos(this.valueAt);
    return { line: p.line, column: p.col };
  }

  get key(): Position | undefined {
    if (this.keyAt === undefined) return undefined;
    const p = this.linePos(this.keyAt);
    return { line: p.line, column: p.col };
  }
}

export function pointer(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) out += `/${escapeSegment(String(s))}`;
  return out;
}

/** One JSON pointer segment: `~` and `/` escaped. */
export function escapeSegment(s: string): string {
  return s.includes("~") || s.includes("/") ? s.replace(/~/g, "~0").replace(/\//g, "~1") : s;
}

export function segmentsOf(ptr: string): string[] {
  if (ptr === "") return [];
  return ptr
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Dotted display path: `plans.pro.entitlements.chat.limit`, list items as `tiers[1]`. */
export function dotted(ptr: string): string {
  let out = "";
  for (const s of segmentsOf(ptr)) {
    if (/^\d+$/.test(s) && out !== "") out += `[${s}]`;
    else out += out === "" ? s : `.${s}`;
  }
  return out;
}

/** The location of `ptr`, or of its nearest located ancestor. */
export function locate(locations: Locations, ptr: string): Location | undefined {
  let p = ptr;
  for (;;) {
    const hit = locations.get(p);
    if (hit) return hit;
    if (p === "") return undefined;
    p = p.slice(0, p.lastIndexOf("/"));
  }
}

/**
 * Locations of which some are worked out on first read: a large policy file's
 * plain id-section entries (see `plain-entry.ts`) register how to locate
 * their values instead of a location per value, and only an entry something
 * asks about (a diagnostic, a policy test) is located. Reading any pointer
 * under `/section/id` locates that entry; iterating locates everything.
 */
export class DeferredLocations extends Map<string, Location> {
  private readonly deferred = new Map<string, () => void>();

  /** Register how to record the locations of everything at or below `entryPtr` (`/customers/acme`). */
  defer(entryPtr: string, locate: () => void): void {
    this.deferred.set(entryPtr, locate);
  }

  override get(ptr: string): Location | undefined {
    const hit = super.get(ptr);
    if (hit !== undefined || this.deferred.size === 0) return hit;
    return this.settle(ptr) ? super.get(ptr) : undefined;
  }

  override has(ptr: string): boolean {
    if (super.has(ptr)) return true;
    return this.settle(ptr) && super.has(ptr);
  }

  override delete(ptr: string): boolean {
    this.settle(ptr);
    return super.delete(ptr);
  }

  override get size(): number {
    this.settleAll();
    return super.size;
  }

  override entries(): MapIterator<[string, Location]> {
    this.settleAll();
    return super.entries();
  }

  override keys(): MapIterator<string> {
    this.settleAll();
    return super.keys();
  }

  override values(): MapIterator<Location> {
    this.settleAll();
    return super.values();
  }

  override forEach(
    fn: (value: Location, key: string, map: Map<string, Location>) => void,
    self?: unknown,
  ): void {
    this.settleAll();
    super.forEach(fn, self);
  }

  override [Symbol.iterator](): MapIterator<[string, Location]> {
    return this.entries();
  }

  /** Locate the deferred entry holding `ptr`, if any; true when one was located. */
  private settle(ptr: string): boolean {
    if (this.deferred.size === 0) return false;
    const second = ptr.indexOf("/", 1);
    if (second === -1) return false;
    const third = ptr.indexOf("/", second + 1);
    const entry = third === -1 ? ptr : ptr.slice(0, third);
    const locate = this.deferred.get(entry);
    if (!locate) return false;
    this.deferred.delete(entry);
    locate();
    return true;
  }

  private settleAll(): void {
    for (const [entry, locate] of this.deferred) {
      this.deferred.delete(entry);
      locate();
    }
  }
}
