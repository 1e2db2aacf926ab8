import { type Decimal, dec, decStr, ZERO } from "../../core/money.js";
import type { Window } from "../../core/periods.js";
import type { CreditUse } from "../../core/rating/credits.js";
import type { Db } from "./database.js";

/**
 * Credit consumed per billed period (R12). Balances carry over: a period's
 * invoice sees each grant less what invoices of earlier periods consumed.
 * Billing a period again replaces that period's rows, so re-runs are idempotent.
 */
export function consumedBefore(db: Db, customer: string, before: number): Map<string, Decimal> {
  const rows = db
    .prepare("SELECT credit_id, amount FROM credit_ledger WHERE customer = ? AND period_start < ?")
    .all(customer, before) as { credit_id: string; amount: string }[];
  const out = new Map<string, Decimal>();
  for (const r of rows) out.set(r.credit_id, (out.get(r.credit_id) ?? ZERO).plus(dec(r.amount)));
  return out;
}

export function recordCreditUse(
  db: Db,
  customer: string,
  period: Window,
  invoice: string,
  uses: CreditUse[],
): void {
  db.prepare("DELETE FROM credit_ledger WHERE customer = ? AND period_start = ?").run(customer, period.start);
  const insert = db.prepare(
    "INSERT INTO credit_ledger (customer, credit_id, period_start, period_end, invoice, amount) VALUES (?, ?, ?, ?, ?, ?)",
  );
  for (const u of uses) insert.run(customer, u.id, period.start, period.end, invoice, decStr(u.amount));
}

export interface LedgerRow {
  customer: string;
  credit_id: string;
  amount: string;
}

/** Ledger rows summed per customer and grant (amounts are exact decimal strings). */
export function foldLedger(rows: LedgerRow[]): Map<string, Map<string, Decimal>> {
  const out = new Map<string, Map<string, Decimal>>();
  for (const r of rows) {
    let perCredit = out.get(r.customer);
    if (!perCredit) out.set(r.customer, (perCredit = new Map()));
    perCredit.set(r.credit_id, (perCredit.get(r.credit_id) ?? ZERO).plus(dec(r.amount)));
  }
  return out;
}

/** Every customer's consumed credit before `before`, in one read. */
export function consumedByCustomerBefore(db: Db, before: number): Map<string, Map<string, Decimal>> {
  const rows = db
    .prepare("SELECT customer, credit_id, amount FROM credit_ledger WHERE period_start < ?")
    .all(before) as LedgerRow[];
  return foldLedger(rows);
}
