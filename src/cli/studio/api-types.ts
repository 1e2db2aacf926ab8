/**
 * What the studio's customers page is answered with: shared by the server
 * (customer-usage.ts) and the web app, which imports these types only.
 */
export interface UsageLine {
  entitlement: string;
  meter: string;
  /** The customer whose counter it is (a parent or root for shared scopes). */
  owner: string;
  used: string;
  /** null = unlimited. */
  limit: string | null;
  /** used / limit in percent, one decimal; null when unlimited. */
  percent: number | null;
  mode: string;
  period: string;
  window: { start: string; end: string };
}

export interface WalletLine {
  unit: string;
  balance: string;
  available: string;
  minimum: string;
  reserved: string;
  lots: { id: string; source: string; remaining: string; expiresAt: string | null }[];
}

export interface CustomerUsage {
  id: string;
  plan: string | null;
  contract: boolean;
  usage: UsageLine[];
  wallet: WalletLine | null;
}

export type CustomersAnswer =
  | { available: true; at: string; customers: CustomerUsage[] }
  | { available: false; reason: string; at: string };
