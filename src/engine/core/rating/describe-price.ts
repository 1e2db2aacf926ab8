import type { ChargeModel, DecimalString, Tier } from "../model.js";
import { dec } from "../money.js";

/**
 * A charge model in words, for people who read prices rather than YAML:
 * "first 1,000 free, then $0.04 each". Amounts are printed exactly as the
 * policy states them (never rounded: a unit price of $0.000003 is the price),
 * padded to the currency's minor digits so $0.5 reads $0.50.
 */
export interface PriceWords {
  currency: string;
  /** Minor-unit digits of the currency (USD 2). */
  digits: number;
}

const SYMBOLS: Record<string, string> = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", INR: "₹" };

/** "1,000,000": units with thousands separators. */
export function formatCount(n: number): string {
  const [whole = "0", frac] = String(n).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** "$1,200.50", "$0.000003", "CHF 12.00": exact, at least the currency's digits. */
export function formatAmount(value: DecimalString, words: PriceWords): string {
  const d = dec(value);
  const places = Math.max(words.digits, d.decimalPlaces());
  const [whole = "0", frac] = d.abs().toFixed(places).split(".");
  const body = `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${frac ? `.${frac}` : ""}`;
  const symbol = SYMBOLS[words.currency];
  const sign = d.isNegative() ? "-" : "";
  return symbol ? `${sign}${symbol}${body}` : `${sign}${words.currency} ${body}`;
}

const isZero = (v: DecimalString) => dec(v).isZero();

function flat(tier: Tier, words: PriceWords): string {
  return isZero(tier.flatFee) ? "" : ` plus ${formatAmount(tier.flatFee, words)} flat`;
}

function each(tier: Tier, words: PriceWords): string {
  return isZero(tier.unitPrice) ? "free" : `${formatAmount(tier.unitPrice, words)} each`;
}

function graduated(tiers: Tier[], words: PriceWords): string {
  const parts: string[] = [];
  let from = 0;
  tiers.forEach((tier, i) => {
    const price = `${each(tier, words)}${flat(tier, words)}`;
    const at = isZero(tier.unitPrice) ? price : `at ${price}`;
    if (tier.upTo === null) parts.push(i === 0 ? price : `then ${price}`);
    else if (i === 0) parts.push(`first ${formatCount(tier.upTo)} ${at}`);
    else parts.push(`${formatCount(from + 1)} to ${formatCount(tier.upTo)} ${at}`);
    from = tier.upTo ?? from;
  });
  return parts.join(", ");
}

function volume(tiers: Tier[], words: PriceWords): string {
  const parts = tiers.map((tier, i) => {
    const price = `${each(tier, words)}${flat(tier, words)}`;
    if (tier.upTo === null) return i === 0 ? `every unit ${price}` : `above that, every unit ${price}`;
    return `up to ${formatCount(tier.upTo)} in total, every unit ${price}`;
  });
  return parts.join("; ");
}

/** The price of an entitlement in words; `null` (not charged) reads "not charged". */
export function describePrice(model: ChargeModel | null, words: PriceWords): string {
  if (model === null) return "not charged";
  switch (model.model) {
    case "per_unit": {
      const unit = isZero(model.unitPrice) ? "free" : `${formatAmount(model.unitPrice, words)} each`;
      return model.freeUnits > 0 ? `first ${formatCount(model.freeUnits)} free, then ${unit}` : unit;
    }
    case "graduated":
      return graduated(model.tiers, words);
    case "volume":
      return volume(model.tiers, words);
    case "package": {
      const rounding = model.rounding === "up" ? "part packs count as whole" : "part packs are free";
      const price = `${formatAmount(model.packagePrice, words)} per ${formatCount(model.packageSize)} (${rounding})`;
      return model.freeUnits > 0 ? `first ${formatCount(model.freeUnits)} free, then ${price}` : price;
    }
    case "percentage": {
      const fee = isZero(model.fixedFee) ? "" : ` plus ${formatAmount(model.fixedFee, words)} per event`;
      const free = model.freeEvents > 0 ? `first ${formatCount(model.freeEvents)} events free, then ` : "";
      return `${free}${dec(model.rate).toFixed()}% of the value${fee}`;
    }
  }
}
