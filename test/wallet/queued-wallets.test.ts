/**
 * The wallets a flush hands to the store: queued as a bit per account, listed
 * in account order by `setBits` (so a store visits their rows front to back).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { setBits } from "../../src/engine/runtime/wallets.js";

describe("queued wallets in account order", () => {
  it("lists exactly the set bits, ascending", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4000 }),
        fc.array(fc.nat(), { maxLength: 3000 }),
        (below, picks) => {
          const queued = [...new Set(picks.map((p) => p % below))];
          const bits = new Int32Array((below + 31) >>> 5);
          for (const id of queued) bits[id >>> 5] = (bits[id >>> 5] as number) | (1 << (id & 31));
          const out = new Float64Array(queued.length);
          expect(setBits(bits, out)).toBe(queued.length);
          expect(Array.from(out)).toEqual(queued.sort((a, b) => a - b));
        },
      ),
      { numRuns: 300 },
    );
  });
});
