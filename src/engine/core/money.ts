import { Decimal as DecimalJs } from "decimal.js";
import type { DecimalString } from "./model.js";

/**
 * Exact decimal arithmetic for everything that can reach an invoice (SPEC R9).
 * A private Decimal constructor so the global decimal.js configuration of the
 * host application can never change our rounding.
 */
export const Decimal = DecimalJs.clone({
  precision: 60,
  rounding: DecimalJs.ROUND_HALF_UP,
  toExpNeg: -40,
  toExpPos: 40,
});
export type Decimal = InstanceType<typeof Decimal>;

export const ZERO = new Decimal(0);

/** Parse a decimal string or a JS number (numbers via their shortest round-trip text, never their binary value). */
export function dec(value: DecimalString | number | Decimal): Decimal {
  if (value instanceof Decimal) return value;
  return new Decimal(typeof value === "number" ? String(value) : value);
}

const constants = new Map<string | number, Decimal>();

/**
 * `dec` for the constants of a policy (prices, tier bounds, free units):
 * parsed once and shared. The cache is emptied when it grows past 10,000
 * entries, so it stays bounded whatever it is fed.
 */
export function decConst(value: DecimalString | number): Decimal {
  let d = constants.get(value);
  if (d === undefined) {
    if (constants.size >= 10_000) constants.clear();
    d = dec(value);
    constants.set(value, d);
  }
  return d;
}

/** Canonical decimal text: no exponent, no trailing zeros ("0.00002", "49", "-1.5"). */
export function decStr(value: Decimal | DecimalString | number): DecimalString {
  const d = dec(value);
  if (d.isZero()) return "0";
  return d.toFixed();
}

/** Round half-up to `digits` decimal places and print exactly that many ("12.30"). */
export function roundMoney(value: Decimal, digits: number): Decimal {
  return value.toDecimalPlaces(digits, Decimal.ROUND_HALF_UP);
}

/** Fixed-digit text of an amount in the currency's minor units ("12.30", "1200" for JPY). */
export function formatMoney(value: Decimal | DecimalString, digits: number): string {
  return roundMoney(dec(value), digits).toFixed(digits);
}

/** Amount in minor units as an integer (for Stripe): "12.30" USD -> 1230. */
export function toMinorUnits(value: Decimal | DecimalString, digits: number): number {
  return roundMoney(dec(value), digits).times(new Decimal(10).pow(digits)).toNumber();
}

export function sum(values: Iterable<Decimal>): Decimal {
  let total = ZERO;
  for (const v of values) total = total.plus(v);
  return total;
}

/** ISO 4217 currencies and their minor-unit digits (those that differ from 2 are listed). */
const ZERO_DIGIT = [
  "BIF",
  "CLP",
  "DJF",
  "GNF",
  "ISK",
  "JPY",
  "KMF",
  "KRW",
  "PYG",
  "RWF",
  "UGX",
  "UYI",
  "VND",
  "VUV",
  "XAF",
  "XOF",
  "XPF",
];
const THREE_DIGIT = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const FOUR_DIGIT = ["CLF", "UYW"];

/** Active ISO 4217 alphabetic codes. */
export const ISO_4217 = new Set(
  (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
    "CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL " +
    "GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD " +
    "KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO " +
    "NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD " +
    "SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV " +
    "WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"
  ).split(" "),
);

export function currencyDigits(code: string): number {
  if (ZERO_DIGIT.includes(code)) return 0;
  if (THREE_DIGIT.includes(code)) return 3;
  if (FOUR_DIGIT.includes(code)) return 4;
  return 2;
}
