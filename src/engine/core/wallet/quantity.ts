import { creditsFor, UnratedQuantityError } from "../credits/convert.js";
import type { CompiledCreditUnit, CreditRate } from "../credits/types.js";
import { marginalPrice } from "../engine/marginal-price.js";
import type { ChargeModel, CompiledMeter, CompiledPolicy, PropertyValue } from "../model.js";
import { dec, decStr } from "../money.js";
import { DIGITS, SCALE, toAtoms } from "./amount.js";
import type { WalletUnitKind } from "./model.js";

/**
 * How a prepaid entitlement's call becomes a wallet amount: the one place
 * that converts. Built once per resolved slot; `walletAmount` runs on the
 * decision path.
 */
export interface WalletPricer {
  kind: WalletUnitKind;
  price: ChargeModel | null;
  /**
   * Atoms per unit when that is one multiplication: a per_unit price without
   * free units (money), or a flat credit rate (credits).
   */
  unitAtoms: bigint | null;
  /** `credits`: the wallet's credit unit and the key of the entitlement's meter in its rates. */
  credit: {
    unit: CompiledCreditUnit;
    key: string;
    units: Readonly<Record<string, CompiledCreditUnit>>;
  } | null;
  /**
   * Atoms per whole unit as an exact number (NaN when there is none, or it
   * is 2^53 or more): a call of a safe-integer amount whose product stays
   * below 2^53 costs `amount * quickAtoms`, exactly, in number arithmetic.
   */
  quickAtoms?: number;
  /** The last `unitAtoms` product and its amount (NaN: none yet). */
  lastAmount?: number;
  lastAtoms?: bigint;
}

export function walletPricer(kind: WalletUnitKind, price: ChargeModel | null): WalletPricer {
  const flat = kind === "money" && price?.model === "per_unit" && price.freeUnits === 0;
  const unitAtoms = flat ? toAtoms(price.unitPrice) : null;
  return {
    kind,
    price,
    unitAtoms,
    quickAtoms: kind === "quantity" ? Number(SCALE) : quick(unitAtoms),
    credit: null,
    lastAmount: Number.NaN,
    lastAtoms: 0n,
  };
}

/**
 * The pricer of a prepaid entitlement paying a wallet held in `unit`: its
 * price (a money wallet), its quantity (a wallet in the entitlement's own
 * unit), or its quantity converted through the rates of the credit unit the
 * wallet holds (SPEC §12: `images: 4` makes one image debit 4 credits).
 * Null when the wallet's credit unit does not rate the entitlement's meter:
 * its calls cannot be paid (validation reports it).
 */
export function pricerFor(
  policy: CompiledPolicy,
  unit: string,
  ent: { meter: CompiledMeter | null; credit: CompiledCreditUnit | null; price: ChargeModel | null },
): WalletPricer | null {
  const kind = unitKind(policy, unit);
  if (kind !== "credits") return walletPricer(kind, ent.price);
  const own = ent.credit?.id ?? ent.meter?.id ?? null;
  if (own === unit) return walletPricer("quantity", ent.price);
  const units = policy.creditUnits ?? {};
  const wallet = units[unit] as CompiledCreditUnit;
  if (own === null || !rates(wallet, own, units, 0)) return null;
  const rate = Object.hasOwn(wallet.rates, own) ? (wallet.rates[own] as CreditRate) : null;
  const unitAtoms = rate !== null && rate.by === null && !Object.hasOwn(units, own) ? flatAtoms(rate) : null;
  return {
    kind,
    price: ent.price,
    unitAtoms,
    quickAtoms: quick(unitAtoms),
    credit: { unit: wallet, key: own, units },
    lastAmount: Number.NaN,
    lastAtoms: 0n,
  };
}

/** Atoms per unit as an exact number, or NaN. */
function quick(unitAtoms: bigint | null): number {
  return unitAtoms === null || unitAtoms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(unitAtoms);
}

/**
 * What a wallet holds: money in the policy currency (prepaid entitlements
 * debit their price), a credit unit (they debit their quantity in credits),
 * or anything else (they debit their meter quantity).
 */
export function unitKind(policy: CompiledPolicy, unit: string): WalletUnitKind {
  if (unit.toUpperCase() === policy.currency) return "money";
  return policy.creditUnits !== undefined && Object.hasOwn(policy.creditUnits, unit) ? "credits" : "quantity";
}

/** A credit unit rates `key`, directly or through the credit units it rates. */
function rates(
  unit: CompiledCreditUnit,
  key: string,
  units: Readonly<Record<string, CompiledCreditUnit>>,
  depth: number,
): boolean {
  if (Object.hasOwn(unit.rates, key)) return true;
  if (depth > 32) return false;
  for (const k in unit.rates)
    if (Object.hasOwn(units, k) && rates(units[k] as CompiledCreditUnit, key, units, depth + 1)) return true;
  return false;
}

/** Atoms of credits per unit of a flat rate, when exact at 12 places. */
function flatAtoms(rate: CreditRate): bigint | null {
  if (rate.default === null) return null;
  const perUnit = dec(rate.default).div(dec(rate.per));
  if (!perUnit.toDecimalPlaces(DIGITS).eq(perUnit)) return null;
  return toAtoms(decStr(perUnit));
}

/**
 * Atoms a call of `amount` units costs the wallet when `used` units and
 * `events` events are already counted in the period: its quantity (a
 * wallet in the meter's unit), its quantity in credits through the wallet's
 * credit unit (`properties` pick `by` rates), or its marginal price under
 * the charge model (a money wallet; the decision's `price`, R17). Exact; a
 * value finer than 12 places rounds half-up there. Null when `amount` is
 * unusable, or has no rate for the call's properties.
 *
 * @example
 * walletAmount(walletPricer("money", { model: "per_unit", unitPrice: "0.002", freeUnits: 0 }), 0, 1000, 0) // 2000000000000n
 */
export function walletAmount(
  p: WalletPricer,
  used: number,
  amount: number,
  events: number,
  properties?: Readonly<Record<string, PropertyValue>> | null,
): bigint | null {
  if (p.kind === "quantity") return toAtoms(amount);
  if (p.unitAtoms !== null && Number.isSafeInteger(amount)) {
    // Calls of one size repeat: the last product is kept (BigInts are immutable, so it can be shared).
    if (amount === p.lastAmount) return p.lastAtoms as bigint;
    const atoms = BigInt(amount) * p.unitAtoms;
    p.lastAmount = amount;
    p.lastAtoms = atoms;
    return atoms;
  }
  if (p.kind === "credits") return creditAtoms(p, amount, properties);
  const price = marginalPrice(p.price, used, amount, events);
  return toAtoms(price) ?? toAtoms(decStr(dec(price).toDecimalPlaces(DIGITS)));
}

function creditAtoms(
  p: WalletPricer,
  amount: number,
  properties: Readonly<Record<string, PropertyValue>> | null | undefined,
): bigint | null {
  const c = p.credit;
  if (c === null || !Number.isFinite(amount)) return null;
  try {
    const credits = creditsFor(c.unit, { [c.key]: amount }, properties, c.units);
    return toAtoms(decStr(credits.toDecimalPlaces(DIGITS)));
  } catch (err) {
    if (err instanceof UnratedQuantityError) return null;
    throw err;
  }
}
