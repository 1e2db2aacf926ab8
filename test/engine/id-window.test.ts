import { describe, expect, it } from "vitest";
import { IdWindow } from "../../src/engine/runtime/persistence.js";

/** The window as a ring allocated whole up front: what IdWindow must keep answering like. */
class WholeRing {
  private readonly seen = new Set<string>();
  private readonly ring: (string | undefined)[];
  private pos = 0;

  constructor(size: number) {
    this.ring = Array.from({ length: Math.max(1, size) }, () => undefined);
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  add(id: string): void {
    const old = this.ring[this.pos];
    if (old !== undefined) this.seen.delete(old);
    this.ring[this.pos] = id;
    this.pos = this.pos + 1 === this.ring.length ? 0 : this.pos + 1;
    this.seen.add(id);
  }

  delete(id: string): void {
    this.seen.delete(id);
  }
}

/** A small deterministic generator (xorshift), so a failure names its seed. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe("IdWindow (R13's window of recent ids)", () => {
  it("remembers exactly the ids the whole ring would, through filling, wrapping and deletes", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const next = random(seed);
      const size = [0, 1, 2, 3, 7, 64, 1000][seed % 7] as number;
      const window = new IdWindow(size);
      const reference = new WholeRing(size);
      for (let step = 0; step < 3000; step++) {
        const id = `id-${Math.floor(next() * (size * 3 + 5))}`;
        const op = next();
        if (op < 0.1) {
          window.delete(id);
          reference.delete(id);
        } else if (!reference.has(id)) {
          // The engine adds an id only when it is not in the window (a duplicate is answered, not added).
          window.add(id);
          reference.add(id);
        }
        expect(window.has(id), `seed ${seed}, size ${size}, step ${step}`).toBe(reference.has(id));
      }
      for (let k = 0; k < size * 3 + 5; k++)
        expect(window.has(`id-${k}`), `seed ${seed}, id-${k}`).toBe(reference.has(`id-${k}`));
    }
  });

  it("keeps the last `size` ids once full, the oldest leaving first", () => {
    const window = new IdWindow(3);
    for (const id of ["a", "b", "c"]) window.add(id);
    expect(["a", "b", "c"].map((id) => window.has(id))).toEqual([true, true, true]);
    window.add("d");
    expect(["a", "b", "c", "d"].map((id) => window.has(id))).toEqual([false, true, true, true]);
    window.add("e");
    expect(["b", "c", "d", "e"].map((id) => window.has(id))).toEqual([false, true, true, true]);
    expect(window.size).toBe(3);
  });
});
