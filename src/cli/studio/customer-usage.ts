import { existsSync } from "node:fs";
import { previewInvoice, queryUsage } from "limitr-engine";
import { openDatabase } from "limitr-engine/adapters/store/database";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import type { PgUsageStore } from "limitr-engine/adapters/store/postgres/store";
import { isPostgresUrl } from "limitr-engine/adapters/store/postgres/url";
import { SqliteWallets } from "limitr-engine/adapters/store/sqlite-wallets";
import { type PlanChange, PolicyIndex } from "limitr-engine/core/engine/resolve";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { dec, decStr, ZERO } from "limitr-engine/core/money";
import { calendarWindow, isoDate, type Window } from "limitr-engine/core/periods";
import { periodLabel, specWindow } from "limitr-engine/core/periods/spec";
import { fromAtoms } from "limitr-engine/core/wallet/amount";
import { effectiveWallet } from "limitr-engine/core/wallet/compile";
import type { WalletRow } from "limitr-engine/core/wallet/store-rows";
import { restoreAccount, termsOf } from "limitr-engine/runtime/wallet-rows";
import type { CustomersAnswer, UsageLine, WalletLine } from "./api-types.js";

/**
 * The customers page: each customer's usage in the period of every metered
 * entitlement that contains `at`, against the limit that applies to them
 * (plan, contract overrides and shared scopes resolved as a decision would),
 * and their wallet as the store holds it. Usage comes from the engine's read
 * API (`queryUsage`), the invoice preview from `previewInvoice`.
 */
export type { CustomersAnswer, CustomerUsage, UsageLine, WalletLine } from "./api-types.js";

const noStore = (db: string) => `no usage store at ${db}: import usage with \`limitr usage import\``;

/** Usage and wallets of every customer the policy or the store knows, as of `at`. */
export async function customerUsage(
  policy: CompiledPolicy,
  db: string,
  at: number,
): Promise<CustomersAnswer> {
  const when = isoDate(at, policy.timezone);
  if (!isPostgresUrl(db) && !existsSync(db)) return { available: false, reason: noStore(db), at: when };
  const store = await openUsageStore(db, { readonly: true });
  let history: Map<string, PlanChange[]>;
  try {
    history = new Map(
      [...(await store.planHistory())].map(([c, rows]) => [c, rows.map((r) => ({ at: r.at, plan: r.plan }))]),
    );
  } finally {
    await store.close();
  }
  const index = new PolicyIndex(policy);
  // Customers known by contract, by plan history, or by usage this month (the default plan applies to them).
  const month = calendarWindow("month", at, policy.timezone);
  const active = await queryUsage({ policy, store: db, from: month.start, to: month.end });
  const ids = [
    ...new Set([
      ...Object.keys(policy.customers),
      ...history.keys(),
      ...active.rows.map((r) => String(r.customer)),
    ]),
  ].sort();
  const entitlements = index.entitlementIds();

  // Entitlements share few distinct windows (this month, today): one usage query per window.
  const wanted = new Map<string, Window>();
  const lines: { customer: string; line: Omit<UsageLine, "used" | "percent">; key: string; raw: number }[] =
    [];
  for (const customer of ids) {
    for (const id of entitlements) {
      const e = index.entitlement(customer, id, at, history);
      if (e.reason !== null || e.meter === null || !policy.meters[e.meter.id]) continue;
      const window = specWindow(e.period, at, {
        zone: policy.timezone,
        billing: e.billing,
        planFrom: e.planFrom,
        firstUse: Number.NaN,
      });
      const key = `${window.start}:${window.end}`;
      wanted.set(key, window);
      lines.push({
        customer,
        key,
        raw: e.limit,
        line: {
          entitlement: id,
          meter: e.meter.id,
          owner: e.owner,
          limit: Number.isFinite(e.limit) ? String(e.limit) : null,
          mode: e.mode,
          period: periodLabel(e.period),
          window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
        },
      });
    }
  }
  const own = new Map<string, string>();
  for (const [key, window] of wanted) {
    const { rows } =
      key === `${month.start}:${month.end}`
        ? active
        : await queryUsage({ policy, store: db, from: window.start, to: window.end });
    for (const r of rows) own.set(`${key}\u0000${r.meter}\u0000${r.customer}`, String(r.value));
  }
  // A shared counter (scope parent or root) holds the usage of every customer it is charged for.
  const totals = new Map<string, ReturnType<typeof dec>>();
  for (const l of lines) {
    const id = `${l.key}\u0000${l.line.meter}\u0000${l.line.owner}`;
    const mine = own.get(`${l.key}\u0000${l.line.meter}\u0000${l.customer}`);
    totals.set(id, (totals.get(id) ?? ZERO).plus(mine === undefined ? ZERO : dec(mine)));
  }
  const wallets = await walletsOf(policy, db, at, history);
  return {
    available: true,
    at: when,
    customers: ids.map((id) => {
      const plan = index.planAt(id, at, history).plan;
      return {
        id,
        plan,
        contract: Object.hasOwn(policy.customers, id),
        usage: lines
          .filter((l) => l.customer === id)
          .map(({ line, key, raw }) => {
            const used = decStr(totals.get(`${key}\u0000${line.meter}\u0000${line.owner}`) ?? ZERO);
            return {
              ...line,
              used,
              percent: Number.isFinite(raw) && raw > 0 ? Math.round((Number(used) / raw) * 1000) / 10 : null,
            };
          }),
        wallet: wallets.get(id) ?? null,
      };
    }),
  };
}

/** Wallets as the store holds them (SQLite or Postgres), with the terms of the customer's plan and contract. */
async function walletsOf(
  policy: CompiledPolicy,
  db: string,
  at: number,
  history: Map<string, PlanChange[]>,
): Promise<Map<string, WalletLine>> {
  const out = new Map<string, WalletLine>();
  const index = new PolicyIndex(policy);
  for (const row of await walletRows(db)) {
    const plan = index.planAt(row.customer, at, history).plan;
    const terms = effectiveWallet(policy, plan, row.customer);
    const acc = restoreAccount(
      row,
      termsOf(terms ?? { unit: row.unit, grant: null, minimum: "0", openingBalance: null }, policy.timezone),
    );
    out.set(row.customer, {
      unit: row.unit,
      balance: fromAtoms(acc.balance),
      available: fromAtoms(acc.available),
      minimum: fromAtoms(acc.terms.minimum),
      reserved: fromAtoms(acc.reserved),
      lots: row.lots.map((l) => ({
        id: l.id,
        source: l.source,
        remaining: l.remaining,
        expiresAt: l.expiresAt === null ? null : new Date(l.expiresAt).toISOString(),
      })),
    });
  }
  return out;
}

/** The stored wallet rows: read only, so looking never applies a grant. */
async function walletRows(db: string): Promise<WalletRow[]> {
  if (isPostgresUrl(db)) {
    const store = (await openUsageStore(db, { readonly: true })) as PgUsageStore;
    try {
      return await store.wallets();
    } finally {
      await store.close();
    }
  }
  const sqlite = openDatabase(db, { readonly: true });
  try {
    const hasTable = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE name = 'wallets'").get();
    return hasTable ? new SqliteWallets(sqlite).loadWallets() : [];
  } finally {
    sqlite.close();
  }
}

/** `previewInvoice` for the calendar month containing `at`. */
export async function invoicePreview(policy: CompiledPolicy, db: string, customer: string, at: number) {
  if (!isPostgresUrl(db) && !existsSync(db)) return { available: false as const, reason: noStore(db) };
  const month = calendarWindow("month", at, policy.timezone);
  const period = isoDate(month.start, policy.timezone).slice(0, 7);
  const invoice = await previewInvoice({ policy, store: db, customer, period, now: at });
  return { available: true as const, period, invoice };
}
