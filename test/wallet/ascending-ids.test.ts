/**
 * The queued wallets a flush hands to the store, in account order: `ascending`
 * sorts distinct account indexes in place, by a sort for a few and by a bit
 * per account for many, and leaves its bits zeroed for the next flush.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ascending } from "../../src/engine/runtime/wallets.js";

describe("queued wallets in account order", () => {
  it("sorts any set of distinct indexes, and its bits are all zero after", () => {
    let bits = new Int32Array(0);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.nat(), { maxLength: 3000 }),
        (below, picks) => {
          const distinct = [...new Set(picks.map((p) => p % below))];
          const ids = Float64Array.from(distinct);
          bits = ascending(ids, below, bits);
          expect(Array.from(ids)).toEqual(distinct.sort((a, b) => a - b));
          expect(bits.every((w) => w === 0)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
