import { runBill } from "../adapters/store/bill-run.js";
import { openUsageStore } from "../adapters/store/open-usage-store.js";
import { aggregateUsage, type UsageQueryResult } from "../adapters/store/usage-query.js";
import { InputError } from "../core/errors.js";
import type { CompiledPolicy } from "../core/model.js";
import { calendarWindow, type NamedPeriod, parseInstant, parsePeriod } from "../core/periods.js";
import { type InvoiceJson, invoiceJson } from "../core/rating/invoice-json.js";
import type { UsageStore } from "../core/usage/store-port.js";
import { type BundleStoreInput, loadPolicyInput, type PolicyInput } from "./policy-input.js";

/** The policy to read under: a directory, bundle file or compiled policy, or a running engine's active one. */
export type ReadPolicy =
  | Exclude<PolicyInput, BundleStoreInput>
  | { activePolicy(): { policy: CompiledPolicy } };

export interface ReadOptions {
  policy: ReadPolicy;
  /** The usage store: `sqlite:PATH` (or a plain path) or `postgres://...`. It is read, never created. */
  store: string;
}

export interface UsageQueryOptions extends ReadOptions {
  meter?: string;
  customer?: string;
  /** `2026-10`, `2026-Q4`, `2026` or `2026-10-05`; or give `from`/`to`; neither = all time. */
  period?: string;
  from?: string | number | Date;
  to?: string | number | Date;
  /** `customer` (default), `meter`, `day` (needs a period) or an event property. */
  groupBy?: string;
}

/**
 * Recorded usage, totalled per meter as `limitr usage query` prints it: for
 * a usage page, or to send usage to another billing system. Reads the store;
 * events an open engine still buffers are in it after its `flush()`.
 *
 * @example
 * const { rows } = await queryUsage({ policy: "./policies", store: "sqlite:.limitr/usage.db",
 *   customer: "acme", period: "2026-10", groupBy: "day" });
 */
export async function queryUsage(options: UsageQueryOptions): Promise<UsageQueryResult> {
  const policy = await policyOf(options.policy);
  const period = periodOf(options, policy.timezone);
  return withStore(options.store, (store) =>
    aggregateUsage(policy, store, {
      meter: options.meter,
      customer: options.customer,
      period,
      groupBy: options.groupBy,
    }),
  );
}

export interface InvoicePreviewOptions extends ReadOptions {
  customer: string;
  /** The billing period (default: the calendar month containing `now`). */
  period?: string;
  /** Default `Date.now()`. */
  now?: number | Date;
}

/**
 * What `limitr bill` would invoice the customer for a period, from the
 * usage recorded so far: the invoice as `limitr bill --format json` prints
 * it (amounts as decimal strings), or null when the customer would get no
 * invoice. Nothing is recorded (no credits consumed, no number taken).
 *
 * @example
 * const draft = await previewInvoice({ policy: "./policies", store: "sqlite:.limitr/usage.db", customer: "acme" });
 * if (draft) console.log(draft.total, draft.lines);
 */
export async function previewInvoice(options: InvoicePreviewOptions): Promise<InvoiceJson | null> {
  const policy = await policyOf(options.policy);
  const now = options.now === undefined ? Date.now() : Number(options.now);
  const period: NamedPeriod =
    options.period === undefined
      ? { ...calendarWindow("month", now, policy.timezone), label: "current month" }
      : (parsePeriod(options.period, policy.timezone) ?? badPeriod(options.period));
  return withStore(options.store, async (store) => {
    const bill = await runBill(store, policy, period, {
      recordCredits: false,
      customers: [options.customer],
    });
    const invoice = bill.invoices.find((i) => i.customer === options.customer);
    if (invoice === undefined) return null;
    return invoiceJson(
      { ...invoice, pricedBy: bill.pricing.versions },
      policy.currencyDigits,
      policy.timezone,
    );
  });
}

async function policyOf(input: ReadPolicy): Promise<CompiledPolicy> {
  if (typeof input === "object" && input !== null && "activePolicy" in input)
    return input.activePolicy().policy;
  return (await loadPolicyInput(input)).policy;
}

function periodOf(o: UsageQueryOptions, zone: string): NamedPeriod | null {
  if (o.period !== undefined) {
    if (o.from !== undefined || o.to !== undefined) throw new InputError("give period or from/to, not both");
    return parsePeriod(o.period, zone) ?? badPeriod(o.period);
  }
  if (o.from === undefined && o.to === undefined) return null;
  const start = instant(o.from, "from", zone);
  const end = instant(o.to, "to", zone);
  if (end <= start) throw new InputError("to must be after from");
  return { label: `${new Date(start).toISOString()}_${new Date(end).toISOString()}`, start, end };
}

function instant(value: string | number | Date | undefined, what: string, zone: string): number {
  if (value === undefined) throw new InputError("from and to go together");
  const ms = value instanceof Date ? value.getTime() : parseInstant(String(value), zone);
  if (ms === null || Number.isNaN(ms))
    throw new InputError(`bad ${what} ${String(value)} (ISO-8601 or epoch ms)`);
  return ms;
}

function badPeriod(text: string): never {
  throw new InputError(`bad period ${text} (expected 2026-10, 2026-Q4, 2026 or 2026-10-05)`);
}

async function withStore<T>(location: string, read: (store: UsageStore) => Promise<T>): Promise<T> {
  const path = location.startsWith("sqlite:") ? location.slice("sqlite:".length) : location;
  const store = await openUsageStore(path, { readonly: true });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}
