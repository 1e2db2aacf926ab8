import { dec } from "../money.js";
import type { RawChange } from "./walk.js";

export interface WalletVerdict {
  breaking: boolean;
  reason: string | null;
}

const up = (a: unknown, b: unknown): boolean =>
  typeof a === "string" && typeof b === "string" && dec(b).greaterThan(dec(a));

/**
 * A change under a plan's or a contract's `wallet`: breaking when customers
 * can spend less of what they hold or are granted less (`path` is below
 * `wallet`).
 */
export function walletChange(ch: RawChange, path: readonly string[]): WalletVerdict {
  const [field, sub, leaf] = path;
  const breaking = (reason: string) => ({ breaking: true, reason });
  if (field === undefined)
    return ch.kind === "remove" ? breaking("wallet removed: prepaid entitlements are refused") : NONE;
  if (field === "unit") return breaking("wallet unit changed: balances are read in a different unit");
  if (field === "minimum" && up(ch.before, ch.after)) return breaking("wallet minimum reserve raised");
  if (field !== "grant") return NONE;
  if (sub === undefined)
    return ch.kind === "add" ? NONE : breaking("recurring wallet grant removed or changed");
  if (sub === "amount" && up(ch.after, ch.before)) return breaking("wallet grant lowered");
  if (sub === "every") return breaking("wallet grant schedule changed");
  if (sub === "expiresAfter" && ch.after !== null) return breaking("wallet grants expire differently");
  if (sub === "rollover" && (leaf === undefined ? ch.kind !== "add" : up(ch.after ?? "0", ch.before ?? "0")))
    return breaking("less of an unspent wallet grant rolls over");
  return NONE;
}

const NONE: WalletVerdict = { breaking: false, reason: null };
