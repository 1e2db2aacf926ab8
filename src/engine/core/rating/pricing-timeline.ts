import type { Window } from "../periods.js";

/**
 * Which policy version priced which part of a billed period (SPEC §15, R14):
 * the bundle activations an engine recorded in the store, cut to the period.
 * Pure: the rows come in as data.
 */
export interface ActivationRow {
  /** When the engine made the version active, epoch ms. */
  at: number;
  /** Bundle version; 0 for a policy directory or object that was never published. */
  version: number;
  /** `sha256:<hex>` of the canonical policy. */
  digest: string;
  source: string;
}

/** One stretch of the period and the version active during it, half-open [start, end). */
export interface PricingPiece extends Window {
  version: number;
  digest: string;
  /**
   * The piece starts before the first recorded activation: no row says what
   * was active then, so the earliest recorded version prices it.
   */
  beforeFirstRecord: boolean;
}

/**
 * The pieces of `period` by the version active at each instant: the last
 * activation at or before it. Consecutive activations of the same content
 * (same digest) are one piece. Empty when nothing was activated before the
 * period's end (the caller falls back to a policy directory).
 */
export function pricingPieces(activations: readonly ActivationRow[], period: Window): PricingPiece[] {
  const rows = activations
    .map((a, i) => ({ a, i }))
    .sort((x, y) => x.a.at - y.a.at || x.i - y.i)
    .map((x) => x.a)
    .filter((a) => a.at < period.end);
  if (rows.length === 0) return [];
  let active = -1;
  for (let i = 0; i < rows.length; i++) if ((rows[i] as ActivationRow).at <= period.start) active = i;
  const out: PricingPiece[] = [];
  const push = (row: ActivationRow, start: number, beforeFirstRecord: boolean) => {
    const last = out[out.length - 1];
    if (last && last.digest === row.digest) return;
    if (last) last.end = start;
    out.push({ version: row.version, digest: row.digest, start, end: period.end, beforeFirstRecord });
  };
  if (active === -1) {
    const firstAt = (rows[0] as ActivationRow).at;
    const first = rows.filter((r) => r.at === firstAt).pop() as ActivationRow;
    push(first, period.start, true);
  } else push(rows[active] as ActivationRow, period.start, false);
  for (let i = Math.max(active + 1, 0); i < rows.length; i++) {
    const row = rows[i] as ActivationRow;
    // Several activations at the same instant: the last one recorded is what ran.
    const next = rows[i + 1];
    if (next && next.at === row.at) continue;
    if (row.at <= period.start) continue;
    push(row, row.at, false);
  }
  return out.filter((p) => p.start < p.end);
}
