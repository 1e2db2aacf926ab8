import type { CompiledPolicy } from "../model.js";
import { type Decimal, sum } from "../money.js";
import type { Window } from "../periods.js";
import {
  type CustomerBillingInput,
  type CustomerPricing,
  type Invoice,
  poolMembers,
  rateCustomerAcross,
  type UsageLookup,
} from "./invoice.js";
import type { PlanChange } from "./timeline.js";

/**
 * A whole billing run: every selected customer's invoice, numbered
 * deterministically, and the totals. Pure; the caller supplies usage.
 */
export interface BilledInvoice extends Invoice {
  number: string;
  /** The policies that priced it (set by `limitr bill`). */
  pricedBy?: PricedBy[];
  /** An adjustment invoice: the pushed invoice it adjusts. */
  adjusts?: string;
  /** When this content was pushed to Stripe (it is shown as pushed, unchanged). */
  pushedAt?: number;
  /** Events of the period recorded after the invoice it adjusts was pushed. */
  lateEvents?: number;
}

export interface BillTotals {
  invoices: number;
  subtotal: Decimal;
  discount: Decimal;
  creditsApplied: Decimal;
  total: Decimal;
  cost: Decimal;
  marginPercent: Decimal | null;
}

/** A policy that priced part of the bill, and which part (SPEC §15). */
export interface PricedBy extends Window {
  /** Bundle version; null for a policy directory. */
  version: number | null;
  digest: string | null;
}

export interface Bill {
  period: Window & { label: string };
  /** Where the prices came from: the recorded activations, or a policy directory. */
  pricing: { source: "activations" | "policies"; note: string | null; versions: PricedBy[] };
  /** The policy currency: the currency of `totals`. */
  currency: string;
  currencyDigits: number;
  invoices: BilledInvoice[];
  /** Totals of the invoices in the policy currency. */
  totals: BillTotals;
  /**
   * Totals per invoice currency (always the policy currency, and every other
   * currency an invoice is in): amounts of different currencies are never summed.
   */
  totalsByCurrency: Record<string, BillTotals>;
}

export interface NumberedInput extends CustomerBillingInput {
  /** Position of the customer among all customers billed for the period (sorted by id), from 1. */
  seq: number;
  /**
   * With several pricings: the customer's plan history and contract under
   * each policy, in the same order; absent = `changes` and `contract` for all.
   */
  perPricing?: { changes: PlanChange[]; contract: CustomerBillingInput["contract"] }[];
}

/** One policy's share of a billing run: a version and the instants it priced, with its usage source. */
export interface BillPricing extends PricedBy {
  policy: CompiledPolicy;
  lookup: UsageLookup;
  /** Shown on lines when the bill has several pricings. */
  label: string | null;
}

/** `<project>-<period>-<seq>`: stable across re-runs and across `--customer` selections. */
export function invoiceNumber(project: string, periodLabel: string, seq: number): string {
  return `${project}-${periodLabel}-${String(seq).padStart(4, "0")}`;
}

/** Rate every input against one usage source (see `UsageLookup`). */
export function billPeriod(
  policy: CompiledPolicy,
  period: Window & { label: string },
  inputs: NumberedInput[],
  lookup: UsageLookup,
): Bill {
  const only = {
    policy,
    lookup,
    start: period.start,
    end: period.end,
    version: null,
    digest: null,
    label: null,
  };
  return billPriced(period, inputs, [only]);
}

/**
 * Rate every input under the policies that priced the period, in time order
 * (one for a policy directory; one per version active during the period).
 * Numbering, currency and totals follow the last policy.
 */
export function billPriced(
  period: Window & { label: string },
  inputs: NumberedInput[],
  pricings: BillPricing[],
): Bill {
  const policy = pricings[pricings.length - 1]?.policy;
  if (!policy) throw new Error("billPriced needs at least one pricing");
  const pools = pricings.map((p) => poolMembers(p.policy));
  const invoices = inputs.map((input) => {
    const perCustomer: CustomerPricing[] = pricings.map((p, i) => ({
      policy: p.policy,
      start: p.start,
      end: p.end,
      lookup: p.lookup,
      pools: pools[i] as Map<string, string[]>,
      changes: input.perPricing?.[i]?.changes ?? input.changes,
      contract: input.perPricing ? (input.perPricing[i]?.contract ?? null) : input.contract,
      label: pricings.length > 1 ? p.label : null,
    }));
    return {
      ...rateCustomerAcross(period, input, perCustomer),
      number: invoiceNumber(policy.name, period.label, input.seq),
    };
  });
  const byCurrency = totalsByCurrency(invoices, policy.currency);
  return {
    period,
    pricing: {
      source: "policies",
      note: null,
      versions: pricings.map((p) => ({ version: p.version, digest: p.digest, start: p.start, end: p.end })),
    },
    currency: policy.currency,
    currencyDigits: policy.currencyDigits,
    invoices,
    totals: byCurrency[policy.currency] as BillTotals,
    totalsByCurrency: byCurrency,
  };
}

/** `totalsOf` per invoice currency, the policy currency first (present even with no invoice in it). */
export function totalsByCurrency(invoices: Invoice[], policyCurrency: string): Record<string, BillTotals> {
  const groups = new Map<string, Invoice[]>([[policyCurrency, []]]);
  for (const inv of invoices) {
    const list = groups.get(inv.currency);
    if (list) list.push(inv);
    else groups.set(inv.currency, [inv]);
  }
  const out: Record<string, BillTotals> = {};
  const codes = [...groups.keys()];
  for (const code of [policyCurrency, ...codes.filter((c) => c !== policyCurrency).sort()])
    out[code] = totalsOf(groups.get(code) ?? [], code === policyCurrency);
  return out;
}

/** Sums of invoices in one currency; `withMargin` false when their costs are in another (the policy currency). */
export function totalsOf(invoices: Invoice[], withMargin = true): BillTotals {
  const subtotal = sum(invoices.map((i) => i.subtotal));
  const discount = sum(invoices.map((i) => i.discount));
  const cost = sum(invoices.map((i) => i.cost));
  const revenue = subtotal.minus(discount);
  return {
    invoices: invoices.length,
    subtotal,
    discount,
    creditsApplied: sum(invoices.map((i) => i.creditsApplied)),
    total: sum(invoices.map((i) => i.total)),
    cost,
    marginPercent:
      withMargin && revenue.gt(0) ? revenue.minus(cost).div(revenue).times(100).toDecimalPlaces(2) : null,
  };
}
