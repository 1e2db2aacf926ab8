import type { CompiledPolicy } from "../model.js";
import { type Decimal, sum } from "../money.js";
import type { Window } from "../periods.js";
import {
  type CustomerBillingInput,
  type Invoice,
  poolMembers,
  rateCustomer,
  type UsageLookup,
} from "./invoice.js";

/**
 * A whole billing run: every selected customer's invoice, numbered
 * deterministically, and the totals. Pure; the caller supplies usage.
 */
export interface BilledInvoice extends Invoice {
  number: string;
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

export interface Bill {
  period: Window & { label: string };
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
  const pools = poolMembers(policy);
  const invoices = inputs.map((input) => ({
    ...rateCustomer(policy, period, input, pools, lookup),
    number: invoiceNumber(policy.name, period.label, input.seq),
  }));
  const byCurrency = totalsByCurrency(invoices, policy.currency);
  return {
    period,
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
