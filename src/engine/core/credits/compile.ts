import { decStr } from "../money.js";
import type { CompiledCap, CompiledCreditUnit, CreditRate } from "./types.js";

// biome-ignore lint/suspicious/noExplicitAny: the input is schema-validated YAML data
type Raw = any;

const money = (v: unknown): string => decStr(String(v));

function sorted(obj: Raw): [string, Raw][] {
  if (!obj || typeof obj !== "object") return [];
  return Object.keys(obj)
    .sort()
    .map((k) => [k, obj[k]]);
}

/** `images: 4` or `{ by: model, rates: {...}, per: 1000, default: 0.5 }` (or `{ rate: 4, per: 1000 }`). */
export function compileCreditRate(raw: Raw): CreditRate {
  if (raw === null || typeof raw !== "object") return { by: null, rates: {}, default: money(raw), per: "1" };
  const rates: Record<string, string> = {};
  for (const [k, v] of sorted(raw.rates)) rates[k] = money(v);
  const flat = raw.default ?? raw.rate;
  return {
    by: raw.by ?? null,
    rates,
    default: flat === undefined || flat === null ? null : money(flat),
    per: raw.per === undefined || raw.per === null ? "1" : money(raw.per),
  };
}

export function compileCreditUnit(id: string, raw: Raw): CompiledCreditUnit {
  const rates: Record<string, CreditRate> = {};
  for (const [k, v] of sorted(raw?.rates)) rates[k] = compileCreditRate(v);
  return {
    id,
    description: raw?.description ?? null,
    value: raw?.value === undefined || raw?.value === null ? null : money(raw.value),
    rates,
  };
}

/** `credit_units:` of a policy; undefined when it has none (the compiled policy then has no field). */
export function compileCreditUnits(raw: Raw): Record<string, CompiledCreditUnit> | undefined {
  const list = sorted(raw);
  if (list.length === 0) return undefined;
  const out: Record<string, CompiledCreditUnit> = {};
  for (const [id, v] of list) out[id] = compileCreditUnit(id, v);
  return out;
}

/** `caps:` of a plan or contract; undefined when there are none. */
export function compileCaps(raw: Raw): Record<string, CompiledCap> | undefined {
  const list = sorted(raw);
  if (list.length === 0) return undefined;
  const out: Record<string, CompiledCap> = {};
  for (const [id, c] of list) {
    out[id] = {
      id,
      amount: money(c.amount),
      period: c.period,
      entitlements: [...(c.entitlements as string[])],
      mode: c.mode ?? "hard",
      // Only a shared cap carries the field: a policy without one compiles (and digests) as before.
      ...(c.scope === "parent" || c.scope === "root" ? { scope: c.scope } : {}),
    };
  }
  return out;
}

/** The YAML shape of compiled credit units (see policy/decompile.ts), every default spelled out. */
export function decompileCreditUnits(units: Record<string, CompiledCreditUnit>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [id, u] of Object.entries(units)) {
    const rates: Record<string, unknown> = Object.create(null);
    for (const [k, r] of Object.entries(u.rates)) {
      rates[k] =
        r.by === null
          ? r.per === "1" && r.default !== null
            ? r.default
            : { ...(r.default === null ? {} : { rate: r.default }), per: r.per }
          : { by: r.by, rates: r.rates, per: r.per, ...(r.default === null ? {} : { default: r.default }) };
    }
    out[id] = {
      ...(u.description === null ? {} : { description: u.description }),
      ...(u.value === null ? {} : { value: u.value }),
      rates,
    };
  }
  return out;
}

/** The YAML shape of compiled caps. */
export function decompileCaps(caps: Record<string, CompiledCap>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [id, c] of Object.entries(caps))
    out[id] = {
      amount: c.amount,
      period: c.period,
      entitlements: c.entitlements,
      mode: c.mode,
      ...(c.scope === undefined ? {} : { scope: c.scope }),
    };
  return out;
}
