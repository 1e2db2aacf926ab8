import type { CompiledPolicy } from "../model.js";
import { decStr } from "../money.js";
import type { CompiledWallet, CustomerWallet, WalletGrant } from "./model.js";

// biome-ignore lint/suspicious/noExplicitAny: the input is schema-validated YAML data
type Raw = any;

const money = (v: unknown): string => decStr(String(v));

function compileGrant(raw: Raw): WalletGrant {
  return {
    amount: money(raw.amount),
    every: String(raw.every),
    rollover:
      raw.rollover === undefined || raw.rollover === null
        ? null
        : {
            max: raw.rollover.max === undefined || raw.rollover.max === null ? null : money(raw.rollover.max),
          },
    expiresAfter: raw.expires_after ?? null,
    priority: raw.priority ?? 0,
  };
}

/** A plan's `wallet:`; the unit defaults to the policy currency. */
export function compileWallet(raw: Raw, currency: string): CompiledWallet {
  return {
    unit: raw.unit === undefined ? currency : String(raw.unit),
    grant: raw.grant === undefined || raw.grant === null ? null : compileGrant(raw.grant),
    minimum: raw.minimum === undefined ? "0" : money(raw.minimum),
  };
}

/** A contract's `wallet:` (only the fields it sets). */
export function compileCustomerWallet(raw: Raw): CustomerWallet {
  const out: CustomerWallet = {
    openingBalance:
      raw.opening_balance === undefined || raw.opening_balance === null ? null : money(raw.opening_balance),
  };
  if (raw.unit !== undefined) out.unit = String(raw.unit);
  if (raw.grant !== undefined) out.grant = raw.grant === null ? null : compileGrant(raw.grant);
  if (raw.minimum !== undefined) out.minimum = money(raw.minimum);
  return out;
}

/** The wallet terms of a customer on a plan: the plan's wallet with the contract's overrides; null without a wallet. */
export function effectiveWallet(
  policy: CompiledPolicy,
  plan: string | null,
  customer: string,
): (CompiledWallet & { openingBalance: string | null }) | null {
  const base = plan !== null && Object.hasOwn(policy.plans, plan) ? policy.plans[plan]?.wallet : undefined;
  const contract = Object.hasOwn(policy.customers, customer) ? policy.customers[customer]?.wallet : undefined;
  if (base === undefined && contract === undefined) return null;
  return {
    unit: contract?.unit ?? base?.unit ?? policy.currency,
    grant: contract?.grant !== undefined ? contract.grant : (base?.grant ?? null),
    minimum: contract?.minimum ?? base?.minimum ?? "0",
    openingBalance: contract?.openingBalance ?? null,
  };
}

/** A grant back in the YAML shape (what `compileGrant` reads). */
function decompileGrant(g: WalletGrant): Record<string, unknown> {
  return {
    amount: g.amount,
    every: g.every,
    ...(g.rollover === null ? {} : { rollover: g.rollover.max === null ? {} : { max: g.rollover.max } }),
    ...(g.expiresAfter === null ? {} : { expires_after: g.expiresAfter }),
    ...(g.priority === 0 ? {} : { priority: g.priority }),
  };
}

/** A plan's wallet back in the YAML shape: `compileWallet` of the result gives `w` again. */
export function decompileWallet(w: CompiledWallet): Record<string, unknown> {
  return {
    unit: w.unit,
    ...(w.grant === null ? {} : { grant: decompileGrant(w.grant) }),
    minimum: w.minimum,
  };
}

/** A contract's wallet back in the YAML shape (only the fields it sets). */
export function decompileCustomerWallet(w: CustomerWallet): Record<string, unknown> {
  return {
    ...(w.openingBalance === null ? {} : { opening_balance: w.openingBalance }),
    ...(w.unit === undefined ? {} : { unit: w.unit }),
    ...(w.grant === undefined ? {} : { grant: w.grant === null ? null : decompileGrant(w.grant) }),
    ...(w.minimum === undefined ? {} : { minimum: w.minimum }),
  };
}
