/**
 * The SQLite store writes a flush's changed counters in key order (see
 * KeyOrder): the order it keeps across flushes must be the order of the keys,
 * while counters keep being added between flushes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyOrder } from "../../src/engine/adapters/store/key-order.js";
import { CounterTable } from "../../src/engine/core/engine/counter.js";
import { DirtyCounters } from "../../src/engine/runtime/write-behind.js";

const WINDOW = { start: 0, end: 1 };

describe("KeyOrder", () => {
  it("lists a batch's counters in key order while the table grows between batches", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            add: fc.array(fc.string({ maxLength: 4 }), { maxLength: 20 }),
            changed: fc.array(fc.nat(), { maxLength: 30 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (flushes) => {
          const table = new CounterTable();
          const order = new KeyOrder();
          let made = 0;
          for (const f of flushes) {
            // Keys are unique in an engine's table (one counter per key).
            for (const k of f.add) table.add(`${k}\u0000${made++}`, k, "e", WINDOW);
            if (table.length === 0) continue;
            const dirty = new DirtyCounters(table);
            const seen = new Set<number>();
            for (const n of f.changed) {
              const id = n % table.length;
              if (!seen.has(id)) dirty.push(id);
              seen.add(id);
            }
            const got = Array.from(order.order(dirty).subarray(0, dirty.length), (k) => dirty.key(k));
            const want = Array.from({ length: dirty.length }, (_, k) => dirty.key(k)).sort((x, y) =>
              x < y ? -1 : x > y ? 1 : 0,
            );
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
