/**
 * The compiled policy: the normalised, canonical model that the engine, the
 * rater (`bill`, `simulate`) and bundles consume. Produced by `compilePolicy`
 * from a validated policy; every default is filled in, `overage` sugar is
 * expanded to graduated tiers and money is a decimal string (never a float).
 *
 * Naming: identifiers are camelCase here; the YAML policy format keeps the
 * snake_case field names of the spec (`unit_price`, `trial_days`, ...).
 */

import type { CompiledWallet, CustomerWallet } from "./wallet/model.js";

export type * from "./wallet/model.js";

import type { CompiledCap, CompiledCreditUnit } from "./credits/types.js";

export type { CompiledCap, CompiledCreditUnit, CreditRate } from "./credits/types.js";

/** A decimal number as a string ("0.00002", "49", "-1.5"). Exact; parse with `dec()`. */
export type DecimalString = string;

/** Calendar date in the policy timezone, `YYYY-MM-DD`. */
export type IsoDate = string;

export type Aggregation = "sum" | "count" | "max" | "unique_count" | "latest" | "time_weighted";
export type Interval = "day" | "week" | "month" | "year";
export type Anchor = "calendar" | "anniversary";
export type PeriodUnit = "hour" | "day" | "week" | "month" | "quarter" | "year" | "lifetime" | "billing";
/**
 * An entitlement's `period`: a calendar unit, an interval counted from an
 * anchor (`{ every: P30D, anchor: first_use }`), or a sliding window
 * (`{ sliding: PT24H }`). Durations keep their ISO text and their length in ms.
 */
export type PeriodSpec = PeriodUnit | IntervalPeriod | SlidingPeriod;

export interface IntervalPeriod {
  every: string;
  everyMs: number;
  anchor: "first_use" | "subscription";
}

export interface SlidingPeriod {
  sliding: string;
  slidingMs: number;
}

export type EnforcementMode = "hard" | "soft" | "observe" | "prepaid";
export type Scope = "customer" | "parent" | "root";
export type PropertyValue = string | number | boolean;

export interface CompiledPolicy {
  /** Format version of the policy language (`limitr: 1`). */
  formatVersion: 1;
  name: string;
  /** ISO 4217 code, upper case. */
  currency: string;
  /** Minor-unit digits of `currency` (USD 2, JPY 0, BHD 3). */
  currencyDigits: number;
  /** IANA zone for calendar periods. */
  timezone: string;
  meters: Record<string, CompiledMeter>;
  /** `credit_units:`; absent when the policy defines none (see credits/types.ts). */
  creditUnits?: Record<string, CompiledCreditUnit>;
  plans: Record<string, CompiledPlan>;
  /** Id of the plan marked `default: true`, or null. */
  defaultPlan: string | null;
  customers: Record<string, CompiledCustomer>;
  alerts: Record<string, CompiledAlert>;
  channels: Record<string, CompiledChannel>;
  bundles: CompiledBundleConfig | null;
}

export interface CompiledMeter {
  id: string;
  description: string | null;
  unit: string | null;
  /** Event types this meter counts (one or more). */
  events: string[];
  aggregation: Aggregation;
  /** Property holding the value; null for `count` (or when the event's `value` is used). */
  property: string | null;
  /** Equality filter: property -> accepted values (any of). Empty = no filter. */
  where: Record<string, PropertyValue[]>;
  groupBy: string[];
  cost: CostRate | null;
  /** `time_weighted` only: readings are integrated over time in units of this (GB-hours, seat-days). */
  unitTime?: "hour" | "day";
}

/** Provider cost per unit, flat (`by: null`, `default` set) or per dimension value. */
export interface CostRate {
  by: string | null;
  rates: Record<string, DecimalString>;
  default: DecimalString | null;
}

export interface CompiledPlan {
  id: string;
  name: string;
  default: boolean;
  /** Recurring fee per interval, billed in advance. */
  price: DecimalString;
  interval: Interval;
  anchor: Anchor;
  trialDays: number;
  /** Minimum spend per billing period ("0" = none). */
  minimum: DecimalString;
  entitlements: Record<string, CompiledEntitlement>;
  /** Prepaid balance per customer (SPEC §12); absent when the plan has none. */
  wallet?: CompiledWallet;
  /** Spend caps (R18); absent when the plan has none. */
  caps?: Record<string, CompiledCap>;
  /**
   * Price lists in currencies other than the policy's, by ISO 4217 code
   * (`currencies:`); absent when the plan has none. See currencies.ts.
   */
  currencies?: Record<string, PlanPriceList>;
  /** An add-on (`add_on: true`): held on top of a base plan, never as one (see core/add-ons.ts). */
  addOn?: true;
}

/**
 * A plan's money in one more currency, stated explicitly (never converted):
 * every money field of the plan, in that currency. The validator makes sure
 * a list covers every priced entitlement and every cap of its plan.
 */
export interface PlanPriceList {
  price: DecimalString;
  minimum: DecimalString;
  /** Charge model of each priced metered entitlement of the plan. */
  entitlements: Record<string, ChargeModel>;
  /** Amount of each cap of the plan, by cap id. */
  caps: Record<string, DecimalString>;
}

export type CompiledEntitlement = FlagEntitlement | MeteredEntitlement;

/** `feature: true|false`: allowed (or not), nothing counted (R2). */
export interface FlagEntitlement {
  kind: "flag";
  id: string;
  enabled: boolean;
}

export interface MeteredEntitlement {
  kind: "metered";
  id: string;
  meter: string;
  /** Units per period; null = unlimited (still metered). */
  limit: number | null;
  period: PeriodSpec;
  mode: EnforcementMode;
  scope: Scope;
  /** Charge model for the period's usage; null = not charged. `overage` is compiled into this. */
  price: ChargeModel | null;
  rate: RateGovernor | null;
}

export interface RateGovernor {
  capacity: number;
  perSecond: number;
}

export type ChargeModel = PerUnitModel | GraduatedModel | VolumeModel | PackageModel | PercentageModel;

export interface PerUnitModel {
  model: "per_unit";
  unitPrice: DecimalString;
  freeUnits: number;
}

export interface Tier {
  /** Inclusive upper bound of the tier; null on the last (open) tier. */
  upTo: number | null;
  unitPrice: DecimalString;
  flatFee: DecimalString;
}

export interface GraduatedModel {
  model: "graduated";
  tiers: Tier[];
}

export interface VolumeModel {
  model: "volume";
  tiers: Tier[];
}

export interface PackageModel {
  model: "package";
  packageSize: number;
  packagePrice: DecimalString;
  freeUnits: number;
  rounding: "up" | "down";
}

/** `rate` is in percent of the summed value (a sum meter of money), plus a fixed fee per event. */
export interface PercentageModel {
  model: "percentage";
  rate: DecimalString;
  fixedFee: DecimalString;
  freeEvents: number;
}

export interface CompiledCustomer {
  id: string;
  /** Plan from the contract; null = take it from the runtime store (or the default plan). */
  plan: string | null;
  /**
   * ISO 4217 code the customer is invoiced (and priced) in, upper case; absent
   * = the policy currency. Every amount of the contract is in it.
   */
  currency?: string;
  /** Add-on plans the contract holds on top of `plan`, sorted, no duplicates; absent = none. */
  addOns?: string[];
  parent: string | null;
  since: IsoDate | null;
  metadata: Record<string, PropertyValue>;
  overrides: Record<string, EntitlementOverride>;
  discounts: Discount[];
  credits: Credit[];
  /** Wallet terms of this contract (opening balance, overrides); absent when none. */
  wallet?: CustomerWallet;
  /** Contract spend caps: replace the plan's cap of the same name, add others. */
  caps?: Record<string, CompiledCap>;
}

/** Per-customer change to one entitlement. Absent fields keep the plan's value. */
export interface EntitlementOverride {
  limit?: number | null;
  mode?: EnforcementMode;
  price?: ChargeModel | null;
  /** Last day (inclusive, policy timezone) the override applies; null = no expiry. */
  expires: IsoDate | null;
}

export interface Discount {
  /** Entitlement the discount applies to; null = the whole invoice. */
  entitlement: string | null;
  percent: DecimalString;
}

export interface Credit {
  /** Stable id (`<customer>#<index>` unless given) so balances survive policy edits. */
  id: string;
  amount: DecimalString;
  priority: number;
  /** Last day (inclusive) the credit can be used; null = never expires. */
  expires: IsoDate | null;
  /** First day the credit can be used; null = from the start. */
  starts: IsoDate | null;
}

export interface CompiledAlert {
  id: string;
  /** CEL expression over the alert variables (SPEC §2.5). */
  when: string;
  entitlement: string | null;
  plans: string[];
  customers: string[];
  channels: string[];
  once: "period" | "crossing";
}

export interface CompiledChannel {
  id: string;
  type: "slack" | "webhook" | "email";
  /** May hold `${ENV}` references, resolved at delivery time. */
  url: string;
  secret: string | null;
  to: string[];
}

export interface CompiledBundleConfig {
  store: string | null;
  environments: string[];
}
