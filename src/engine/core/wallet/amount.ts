import { decStr } from "../money.js";

/**
 * Wallet amounts as integers of 1e-12 of the wallet's unit ("atoms"): exact
 * (R9) like decimal.js, but cheap enough for the decision path, where a debit
 * is one multiplication and a comparison. Twelve places: the precision of a
 * unit price in the policy format (SPEC §2.3).
 */
export const DIGITS = 12;
export const SCALE = 10n ** BigInt(DIGITS);

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Atoms of a decimal string or a JS number (read through its shortest
 * round-trip text, never its binary value). Null when the text is not a
 * plain decimal or has more than 12 places.
 *
 * @example
 * toAtoms("1.5") // 1500000000000n
 */
export function toAtoms(value: string | number): bigint | null {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    if (Number.isSafeInteger(value)) return BigInt(value) * SCALE;
    value = plainText(value);
  }
  const m = DECIMAL.exec(value.trim());
  if (m === null) return null;
  const fraction = m[3] ?? "";
  if (fraction.length > DIGITS) {
    // Trailing zeros past the 12th place are still exact.
    if (!/^0*$/.test(fraction.slice(DIGITS))) return null;
  }
  const atoms = BigInt(m[2] as string) * SCALE + BigInt(fraction.slice(0, DIGITS).padEnd(DIGITS, "0"));
  return m[1] === "-" ? -atoms : atoms;
}

/** A number's shortest decimal text without an exponent (1e-7 -> "0.0000001"). */
function plainText(n: number): string {
  const s = String(n);
  return /e/i.test(s) ? decStr(n) : s;
}

/**
 * Canonical decimal text of atoms: no exponent, no trailing zeros ("0.5", "12", "-3.25").
 *
 * @example
 * fromAtoms(1500000000000n) // "1.5"
 */
export function fromAtoms(atoms: bigint): string {
  // One conversion to text and slicing: the ledger converts every debit, so no BigInt division here.
  const neg = atoms < 0n;
  const digits = (neg ? -atoms : atoms).toString();
  const sign = neg ? "-" : "";
  const cut = digits.length - DIGITS;
  const whole = cut > 0 ? digits.slice(0, cut) : "0";
  const frac = cut > 0 ? digits.slice(cut) : digits.padStart(DIGITS, "0");
  let end = DIGITS;
  while (end > 0 && frac.charCodeAt(end - 1) === 48) end--;
  return end === 0 ? `${sign}${whole}` : `${sign}${whole}.${frac.slice(0, end)}`;
}

export function minAtoms(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
