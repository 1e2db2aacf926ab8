import type { DecimalString } from "../model.js";
import { type Decimal, dec, ZERO } from "../money.js";

/**
 * R19 on the invoice: a top-up is a purchase line; usage paid from a wallet
 * is charged like any usage and drawn down by a `prepaid` line of the same
 * amount (at most what the wallet's ledger debited for it in the period), so
 * it is never charged twice, and usage the wallet did not pay stays due.
 */
export interface WalletActivity {
  /** Top-ups in the period, in money (a money wallet's credits). */
  topUps: { id: string; amount: DecimalString }[];
  /** Wallet debits in the period per entitlement, in money (positive). */
  debits: Record<string, DecimalString>;
}

export interface WalletLine {
  kind: "prepaid" | "purchase";
  description: string;
  entitlement: string | null;
  amount: Decimal;
}

/** The draw-down lines for the period's usage lines (`usage` by entitlement, rounded amounts). */
export function drawDownLines(
  usage: { entitlement: string | null; amount: Decimal }[],
  wallet: WalletActivity,
  round: (d: Decimal) => Decimal,
): WalletLine[] {
  const out: WalletLine[] = [];
  const left = new Map<string, Decimal>();
  for (const [ent, amount] of Object.entries(wallet.debits)) left.set(ent, round(dec(amount)));
  for (const line of usage) {
    const ent = line.entitlement;
    const paid = ent === null ? undefined : left.get(ent);
    if (ent === null || paid === undefined || !line.amount.gt(0) || !paid.gt(0)) continue;
    const drawn = paid.lt(line.amount) ? paid : line.amount;
    left.set(ent, paid.minus(drawn));
    out.push({
      kind: "prepaid",
      description: `Paid from prepaid balance: ${ent}`,
      entitlement: ent,
      amount: drawn.negated(),
    });
  }
  return out;
}

/** One purchase line per top-up. */
export function purchaseLines(wallet: WalletActivity, round: (d: Decimal) => Decimal): WalletLine[] {
  return wallet.topUps
    .map((t) => ({
      kind: "purchase" as const,
      description: `Prepaid balance top-up ${t.id}`,
      entitlement: null,
      amount: round(dec(t.amount)),
    }))
    .filter((l) => !l.amount.eq(ZERO));
}
