import type { Window } from "../periods.js";

/**
 * The interval window containing `ms`: [anchor + k*every, anchor + (k+1)*every)
 * for the whole k that holds it (before the anchor too: k may be negative).
 * Elapsed-time arithmetic, so a P1D interval is 24 hours across a DST change.
 */
export function intervalWindow(anchor: number, every: number, ms: number): Window {
  const k = Math.floor((ms - anchor) / every);
  const start = anchor + k * every;
  return { start, end: start + every };
}
