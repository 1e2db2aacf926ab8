import type { Hold } from "../core/engine/decision.js";
import type { EffectiveEntitlement } from "../core/engine/resolve.js";
import { InputError } from "../core/errors.js";
import type { Instant, UsageEventInput } from "./options.js";
import { Slot } from "./slot.js";

/**
 * Checks of what callers hand the engine at run time. Decisions never throw
 * on bad input: they answer with a reason (`invalid_input`, `invalid_amount`,
 * `invalid_hold`). Reads and writes that are not decisions (`usage`,
 * `setPlan`, `record`, `on`) throw an `InputError` naming the argument.
 */

/** An explicit `now` as epoch ms; NaN when it is neither a finite number nor a valid Date (the call is refused). */
export function instantOf(t: Instant | null | undefined): number {
  if (typeof t === "number") return t - t === 0 ? t : Number.NaN;
  return t instanceof Date ? t.getTime() : Number.NaN;
}

/** Customers, entitlements, plans and event types are non-empty strings. */
export function isName(v: unknown): v is string {
  return typeof v === "string" && v !== "";
}

/** Event properties: absent, or a plain object. */
export function isProperties(p: unknown): boolean {
  return p === undefined || (typeof p === "object" && p !== null && !Array.isArray(p));
}

/** The shape `reserve` returns: anything else (null after a refused reserve) is not a hold. */
export function isHold(h: unknown): h is Hold {
  if (typeof h !== "object" || h === null) return false;
  const o = h as Partial<Hold>;
  return (
    typeof o.id === "string" &&
    o.id.startsWith("h-") &&
    isName(o.customer) &&
    isName(o.entitlement) &&
    typeof o.amount === "number" &&
    typeof o.expiresAt === "number"
  );
}

const REFUSED: EffectiveEntitlement = {
  reason: "invalid_input",
  customer: "",
  entitlement: "",
  owner: "",
  meter: null,
  limit: Infinity,
  mode: "hard",
  price: null,
  period: "month",
  billing: { interval: "month", anchor: "calendar", since: null },
  planFrom: -Infinity,
  rate: null,
  credit: null,
  caps: [],
  validFrom: -Infinity,
  validUntil: Infinity,
};

/** The slot a refused call reports on (no counter): built only when a call is refused before any lookup. */
export function refusalSlot(customer: unknown, entitlement: unknown, reason: Slot["reason"]): Slot {
  const c = typeof customer === "string" ? customer : String(customer);
  const e = typeof entitlement === "string" ? entitlement : String(entitlement);
  return new Slot(c, e, reason, { ...REFUSED, reason, customer: c, entitlement: e, owner: c }, null, null);
}

/** Throw an InputError unless `value` is a non-empty string. */
export function requireName(what: string, value: unknown): asserts value is string {
  if (!isName(value)) throw new InputError(`${what} must be a non-empty string (got ${describe(value)})`);
}

/** `record()`'s event: every field the engine reads, checked before anything is counted. */
export function checkEvent(event: unknown): asserts event is UsageEventInput {
  if (typeof event !== "object" || event === null || Array.isArray(event))
    throw new InputError(`record() takes an event object { type, customer, ... } (got ${describe(event)})`);
  const e = event as Record<string, unknown>;
  requireName("event.type", e.type);
  requireName("event.customer", e.customer);
  if (e.id !== undefined) requireName("event.id", e.id);
  if (e.value !== undefined && !(typeof e.value === "number" && Number.isFinite(e.value)))
    throw new InputError(`event.value must be a finite number (got ${describe(e.value)})`);
  if (!isProperties(e.properties))
    throw new InputError(`event.properties must be an object (got ${describe(e.properties)})`);
}

export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return "an array";
  if (typeof v === "function") return "a function";
  return typeof v === "object" && v !== null ? "an object" : String(v);
}
