import type { Decimal } from "../money.js";

/**
 * What `limitr simulate` compares: the same period's recorded usage rated
 * (as `bill` does) and enforced (replayed through the engine) under two
 * policies. Money is exact (Decimal); counts are plain numbers.
 */

/** One customer's enforcement outcome under one policy, from the replay. */
export interface CustomerReplay {
  /** Events a hard limit would have refused (and that therefore counted nothing). */
  denied: number;
  /** Denied events by the entitlement whose limit refused them. */
  deniedBy: Record<string, number>;
  /** Of the denials: calls the customer's wallet could not pay (R17: it ran dry). */
  ranDry: number;
  /** Of the denials: calls a hard spend cap refused (R18). */
  capped: number;
}

/** The replay of one policy: per customer, only those with a denial. */
export interface ReplayOutcome {
  /** Events of the period that some meter of either policy counts. */
  events: number;
  customers: Map<string, CustomerReplay>;
  /** Plan changes from the store the policy does not know (skipped, like the engine would refuse them). */
  unknownPlans: string[];
  /**
   * Entitlements left out of the replay because their denials cannot differ
   * between the two policies compared (see `unchangedEnforcement`); sorted.
   */
  notReplayed?: string[];
}

export interface SideInfo {
  ref: string;
  commit: string | null;
  digest: string;
}

/** One side's figures, for a customer or summed over a plan or everything. */
export interface Figures {
  revenue: Decimal;
  cost: Decimal;
  /** revenue - cost. */
  margin: Decimal;
  /** Usage charges of entitlements with an included limit: what was billed past it. */
  overage: Decimal;
  denied: number;
  /** Of the denials: the wallet ran dry (R17) / a spend cap refused (R18). */
  ranDry: number;
  capped: number;
}

export interface CustomerRow {
  customer: string;
  basePlan: string | null;
  headPlan: string | null;
  /** Currency of the head invoice (else the base invoice, else the policy's): every amount of the row is in it. */
  currency: string;
  /**
   * Set when the base invoice is in another currency than the head's: the
   * two cannot be compared (no exchange rates), so `change` is 0 and
   * `changePct` null, and the base figures count in this currency's totals.
   */
  baseCurrency?: string;
  base: Figures;
  head: Figures;
  /** head.revenue - base.revenue. */
  change: Decimal;
  /** Percent of the base revenue; null when the base revenue is zero. */
  changePct: Decimal | null;
  headDeniedBy: Record<string, number>;
}

export interface PlanRow {
  plan: string;
  /** Plan rows are per plan and currency: amounts of different currencies are never summed. */
  currency: string;
  /** Display name from the head policy (else the base). */
  name: string;
  baseCustomers: number;
  headCustomers: number;
  base: Figures;
  head: Figures;
  change: Decimal;
  changePct: Decimal | null;
}

export interface SimulationTotals {
  base: Figures;
  head: Figures;
  change: Decimal;
  changePct: Decimal | null;
  /** Customers whose invoice total or denied count differs between the two policies. */
  customersAffected: number;
  /** Customers with denials under head and none under base. */
  customersNewlyBlocked: number;
  /** Customers whose wallet ran dry (a prepaid call refused) under each policy. */
  customersRanDry: { base: number; head: number };
  /** Customers who hit a hard spend cap under each policy. */
  customersCapped: { base: number; head: number };
  customers: number;
}

export interface SimulationReport {
  base: SideInfo;
  head: SideInfo;
  period: { label: string; start: number; end: number };
  timezone: string;
  /** The head policy's currency: the currency of `totals`. */
  currency: string;
  currencyDigits: number;
  events: number;
  /**
   * Entitlements whose enforcement is the same under both policies and that
   * were not replayed: their denials are not in the denied figures (they would
   * be equal on both sides). Empty with `--full-replay`.
   */
  notReplayed: string[];
  /** Totals of the customers invoiced in the policy currency. */
  totals: SimulationTotals;
  /** Totals per currency (the policy currency first, then any other an invoice is in). */
  totalsByCurrency: Record<string, SimulationTotals>;
  plans: PlanRow[];
  /** Every customer billed or replayed under either policy, by id. */
  customers: CustomerRow[];
  /** Up to 10 each, biggest change first. */
  moversUp: CustomerRow[];
  moversDown: CustomerRow[];
  newlyBlocked: CustomerRow[];
  /** Customers whose wallet runs dry under head and not under base (most refusals first). */
  newlyRanDry: CustomerRow[];
  /** Customers who hit a spend cap under head and not under base. */
  newlyCapped: CustomerRow[];
}
