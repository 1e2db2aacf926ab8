import type { DecimalString, PeriodUnit } from "../model.js";

/**
 * Compiled forms of `credit_units:` and `caps:` (SPEC §12). Kept apart from
 * model.ts so the policy model only gains optional fields: a policy without
 * credit units or caps compiles (and digests) exactly as before.
 */

/** Credits per unit of one meter (or of another credit unit). */
export interface CreditRate {
  /** Event property the rate varies by (`model`); null = one flat rate (`default`). */
  by: string | null;
  rates: Record<string, DecimalString>;
  /** Rate for values of `by` not listed (the flat rate when `by` is null); null = unrated. */
  default: DecimalString | null;
  /** Units the rates are given for (1000: per thousand tokens). */
  per: DecimalString;
}

/** A unit you define: one credit is a weighted mix of meters. Usable as an entitlement's meter. */
export interface CompiledCreditUnit {
  id: string;
  description: string | null;
  /** Money per credit in the policy currency; null when not priced. */
  value: DecimalString | null;
  /** Meter (or credit unit) id -> credits per unit. */
  rates: Record<string, CreditRate>;
}

/** Money spent per period across entitlements (R18). */
export interface CompiledCap {
  id: string;
  amount: DecimalString;
  period: PeriodUnit;
  entitlements: string[];
  mode: "hard" | "soft";
  /** Shared up the account tree (R7): the spend belongs to the parent or root; absent = each customer's own. */
  scope?: "parent" | "root";
}
