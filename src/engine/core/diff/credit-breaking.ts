import type { CompiledCap, CreditRate } from "../credits/types.js";
import { dec } from "../money.js";
import type { RawChange } from "./walk.js";

/**
 * BREAKING rules of credit units and spend caps, read like prices and limits
 * (see breaking.ts): a call that costs more credits, a credit that costs more
 * money, or a cap that can deny sooner, can make a customer pay more or get
 * less. Returns a reason when breaking, null otherwise.
 */

const up = (before: unknown, after: unknown): boolean =>
  typeof before === "string" && typeof after === "string" && dec(after).greaterThan(dec(before));

/** A change under `creditUnits.<unit>` (`rest` is the path below the unit). */
export function creditUnitChange(ch: RawChange, rest: string[]): string | null {
  const [field, meter, ...below] = rest;
  if (field === undefined) return null;
  if (field === "value") return up(ch.before, ch.after) ? "credit value raised: a credit costs more" : null;
  if (field !== "rates" || meter === undefined) return null;
  if (below.length === 0) {
    if (ch.kind === "add") return `${meter} now costs credits`;
    if (ch.kind === "change") return rateRaised(ch.before as CreditRate, ch.after as CreditRate, meter);
    return null;
  }
  const [leaf, key] = below;
  if (leaf === "per")
    return up(ch.after, ch.before) ? `${meter} rate per lowered: more credits per unit` : null;
  if (leaf === "by") return `${meter} rates by a different property: review rates`;
  if (leaf === "rates" && key !== undefined && ch.kind === "add") return null;
  if (leaf === "default" && ch.kind === "add") return `${meter} now rates values that had no rate`;
  if ((leaf === "rates" || leaf === "default") && up(ch.before, ch.after))
    return `${meter} rate${key ? ` for ${key}` : ""} raised`;
  return null;
}

function rateRaised(a: CreditRate, b: CreditRate, meter: string): string | null {
  if (a.by !== b.by) return `${meter} rates by a different property: review rates`;
  if (up(b.per, a.per)) return `${meter} rate per lowered: more credits per unit`;
  if (up(a.default ?? "0", b.default ?? "0")) return `${meter} rate raised`;
  for (const k of Object.keys(b.rates))
    if (up(a.rates[k] ?? "0", b.rates[k])) return `${meter} rate for ${k} raised`;
  return null;
}

/** A change under `...caps.<cap>` of a plan or contract (`rest` is the path below the cap). */
export function capChange(ch: RawChange, rest: string[]): string | null {
  const [field] = rest;
  if (field === undefined) {
    if (ch.kind === "add")
      return (ch.after as CompiledCap).mode === "hard" ? "spend cap added: calls can be denied" : null;
    if (ch.kind === "remove") return null;
    const a = ch.before as CompiledCap;
    const b = ch.after as CompiledCap;
    return b.mode === "hard" && (a.mode === "soft" || up(b.amount, a.amount))
      ? "spend cap made stricter"
      : null;
  }
  if (field === "amount") return up(ch.after, ch.before) ? "spend cap lowered" : null;
  if (field === "mode") return ch.after === "hard" ? "spend cap now denies (soft -> hard)" : null;
  if (field === "entitlements") {
    const before = new Set((ch.before as string[] | null) ?? []);
    const added = ((ch.after as string[] | null) ?? []).filter((e) => !before.has(e));
    return added.length > 0 ? `spend cap now counts ${added.join(", ")}` : null;
  }
  if (field === "period") return "spend cap period changed: review the amount";
  // Shared up the account tree, a cap counts more customers' spend against one amount (R7).
  if (field === "scope") return ch.after !== null ? "spend cap now shared by the account tree (scope)" : null;
  return null;
}
