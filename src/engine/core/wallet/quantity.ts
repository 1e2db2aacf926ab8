import { marginalPrice } from "../engine/marginal-price.js";
import type { ChargeModel } from "../model.js";
import { dec, decStr } from "../money.js";
import { DIGITS, toAtoms } from "./amount.js";
import type { WalletUnitKind } from "./model.js";

/**
 * How a prepaid entitlement's call becomes a wallet amount: the one place
 * that converts, so another unit kind (a credit unit's rates) plugs in here.
 * Built once per resolved slot; `walletAmount` runs on the decision path.
 */
export interface WalletPricer {
  kind: WalletUnitKind;
  price: ChargeModel | null;
  /** per_unit price without free units, in atoms: an integer call is one multiplication. */
  unitAtoms: bigint | null;
}

export function walletPricer(kind: WalletUnitKind, price: ChargeModel | null): WalletPricer {
  const flat = kind === "money" && price?.model === "per_unit" && price.freeUnits === 0;
  return { kind, price, unitAtoms: flat ? toAtoms(price.unitPrice) : null };
}

/**
 * Atoms a call of `amount` units costs the wallet when `used` units and
 * `events` events are already counted in the period: its quantity (a
 * wallet in the meter's unit) or its marginal price under the charge model
 * (a money wallet; the decision's `price`, R17). Exact; a price finer than
 * 12 places rounds half-up there. Null when `amount` is unusable.
 *
 * @example
 * walletAmount(walletPricer("money", { model: "per_unit", unitPrice: "0.002", freeUnits: 0 }), 0, 1000, 0) // 2000000000000n
 */
export function walletAmount(p: WalletPricer, used: number, amount: number, events: number): bigint | null {
  if (p.kind === "quantity") return toAtoms(amount);
  if (p.unitAtoms !== null && Number.isSafeInteger(amount)) return BigInt(amount) * p.unitAtoms;
  const price = marginalPrice(p.price, used, amount, events);
  return toAtoms(price) ?? toAtoms(decStr(dec(price).toDecimalPlaces(DIGITS)));
}
