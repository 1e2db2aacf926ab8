import { type Lot, WalletAccount, type WalletLanes, type WalletTerms } from "../core/wallet/account.js";
import { fromAtoms, toAtoms } from "../core/wallet/amount.js";
import type { effectiveWallet } from "../core/wallet/compile.js";
import { grantPeriod } from "../core/wallet/schedule.js";
import type { WalletRow } from "../core/wallet/store-rows.js";

/** Wallets to and from the store's rows, and the compiled terms in atoms. */
export function termsOf(eff: NonNullable<ReturnType<typeof effectiveWallet>>, zone: string): WalletTerms {
  const g = eff.grant;
  return {
    unit: eff.unit,
    minimum: toAtoms(eff.minimum) ?? 0n,
    zone,
    grant:
      g === null
        ? null
        : {
            amount: toAtoms(g.amount) ?? 0n,
            every: g.every,
            rollover: g.rollover !== null,
            rolloverMax: g.rollover?.max == null ? null : (toAtoms(g.rollover.max) ?? 0n),
            expiresAfter: g.expiresAfter,
            priority: g.priority,
          },
  };
}

export function walletRow(a: WalletAccount): WalletRow {
  return {
    customer: a.customer,
    unit: a.terms.unit,
    openedAt: a.openedAt,
    nextGrantAt: a.nextGrantAt === Infinity ? null : a.nextGrantAt,
    balance: fromAtoms(a.balance),
    lots: a.lots.map((l) => ({
      id: l.id,
      source: l.source,
      remaining: fromAtoms(l.remaining),
      priority: l.priority,
      expiresAt: l.expiresAt === Infinity ? null : l.expiresAt,
      createdAt: l.createdAt,
    })),
    holds: [...a.holds.values()].map((h) => ({
      id: h.id,
      amount: fromAtoms(h.amount),
      expiresAt: h.expiresAt,
    })),
  };
}

export function restoreAccount(row: WalletRow, terms: WalletTerms, lanes?: WalletLanes): WalletAccount {
  const acc = new WalletAccount(row.customer, terms, row.openedAt, lanes);
  for (const l of row.lots)
    acc.lots.push({
      id: l.id,
      source: l.source as Lot["source"],
      remaining: toAtoms(l.remaining) ?? 0n,
      priority: l.priority,
      expiresAt: l.expiresAt ?? Infinity,
      createdAt: l.createdAt,
    });
  acc.balance = toAtoms(row.balance) ?? 0n;
  for (const h of row.holds) {
    const amount = toAtoms(h.amount) ?? 0n;
    acc.holds.set(h.id, { id: h.id, amount, expiresAt: h.expiresAt });
    acc.reserved += amount;
  }
  acc.nextGrantAt =
    terms.grant === null
      ? Infinity
      : (row.nextGrantAt ?? grantPeriod(terms.grant.every, row.openedAt, row.openedAt, terms.zone).end);
  acc.refresh();
  return acc;
}
