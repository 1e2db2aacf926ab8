import type { DecimalString } from "../model.js";

/**
 * Why a decision came out the way it did. A closed set: callers may switch on
 * it exhaustively, and adding a member is a breaking change.
 *
 * | reason                | allowed | meaning                                                            |
 * |-----------------------|---------|--------------------------------------------------------------------|
 * | `ok`                  | yes     | metered entitlement, within limit (or soft/observe), counted        |
 * | `duplicate`           | yes     | an event with this `id` was already counted: counted once (R13)    |
 * | `feature_enabled`     | yes     | flag entitlement that is on; nothing counted (R2)                   |
 * | `feature_disabled`    | no      | flag entitlement that is off                                        |
 * | `unknown_customer`    | no      | no contract, no stored plan and no default plan (R1)                |
 * | `unknown_plan`        | no      | the customer's plan is not in the active policy, or has no prices in their currency |
 * | `unknown_entitlement` | no      | no plan of the policy defines this entitlement (R1)                 |
 * | `not_entitled`        | no      | the customer's plan does not include this entitlement (R1)          |
 * | `limit_exceeded`      | no      | hard limit: used + held + amount would pass the limit (R3)          |
 * | `insufficient_balance`| no      | prepaid: the call would take the wallet's available funds below 0 (R17) |
 * | `rate_limited`        | no      | the entitlement's burst governor (token bucket) is empty            |
 * | `invalid_amount`      | no      | amount is not a finite number (or a reservation of <= 0, R8); a credit-unit call without priceable quantities |
 * | `invalid_input`       | no      | customer or entitlement not a non-empty string, a bad `now`/`id`/`properties`/`ttlMs` |
 * | `invalid_hold`        | no      | settle of something that is not a hold this engine issued or loaded |
 * | `store_lease_lost`    | no      | another engine took the store over: nothing is decided until the lease is back |
 * | `cap_exceeded`        | no      | a hard spend cap: the call's price would take the cap's spend in its period past its amount (R18) |
 * | `lease_pending`       | no      | shared hard limit: this engine's lease slice cannot cover the call and more is being fetched (R16) |
 * | `store_backlog`       | no      | the shared store has been unreachable so long that its write buffer is full: nothing is counted until it drains (R16) |
 */
export type Reason =
  | "ok"
  | "duplicate"
  | "feature_enabled"
  | "feature_disabled"
  | "unknown_customer"
  | "unknown_plan"
  | "unknown_entitlement"
  | "not_entitled"
  | "limit_exceeded"
  | "insufficient_balance"
  | "rate_limited"
  | "invalid_amount"
  | "invalid_input"
  | "invalid_hold"
  | "store_lease_lost"
  | "cap_exceeded"
  | "lease_pending"
  | "store_backlog";

export const REASONS: readonly Reason[] = [
  "ok",
  "duplicate",
  "feature_enabled",
  "feature_disabled",
  "unknown_customer",
  "unknown_plan",
  "unknown_entitlement",
  "not_entitled",
  "limit_exceeded",
  "insufficient_balance",
  "rate_limited",
  "invalid_amount",
  "invalid_input",
  "invalid_hold",
  "store_lease_lost",
  "cap_exceeded",
  "lease_pending",
  "store_backlog",
];

/**
 * The outcome of `check` / `decide`. Numbers describe the counter the call
 * was evaluated against (the scope owner's, for shared counters), after the
 * call when it was counted and before it otherwise.
 */
export interface Decision {
  allowed: boolean;
  reason: Reason;
  /** Units used in the current period (0 for flags and denials without a counter). */
  used: number;
  /** The period's limit; null = unlimited (or not metered). */
  limit: number | null;
  /** limit - used - held, never below 0; null when unlimited. */
  remaining: number | null;
  /** Epoch ms at which the period resets; null for lifetime counters and flags. */
  resetsAt: number | null;
  /** Units of this call past the limit (soft/observe modes); 0 otherwise. */
  overage: number;
  /** Marginal charge of this call under the effective charge model, exact decimal text ("0" when free or denied). */
  price: DecimalString;
  /** Policy bundle version and digest the decision was made under (R14). */
  version: number;
  digest: string;
}

/** A reservation (R8): units held against a hard limit until settled, released or expired. */
export interface Hold {
  readonly id: string;
  readonly customer: string;
  readonly entitlement: string;
  readonly amount: number;
  /** Epoch ms after which the hold frees itself. */
  readonly expiresAt: number;
}

/** What `usage()` reports for one customer and entitlement. */
export interface Usage {
  used: number;
  held: number;
  limit: number | null;
  remaining: number | null;
  resetsAt: number | null;
}
