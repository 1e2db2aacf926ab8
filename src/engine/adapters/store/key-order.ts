import type { CounterTable } from "../../core/engine/counter.js";
import type { CounterColumns } from "../../core/engine/store-port.js";

/**
 * An engine's counters in key order, kept from one flush to the next, so a
 * flush puts its changed counters in key order by sorting numbers (their
 * ranks) instead of comparing keys. A counter table only grows (a counter
 * keeps its id and key), so counters added since the last flush are sorted
 * among themselves and merged in. Equal keys (not expected) are ordered by
 * id: the newer counter is written last.
 */
export class KeyOrder {
  private table: CounterTable | null = null;
  /** Counters of `table` ranked so far. */
  private known = 0;
  /** Counter ids in key order. */
  private byKey = new Int32Array(0);
  /** Counter id -> its position in `byKey`. */
  private rank = new Int32Array(0);
  /** Scratch: rank -> the column holding that counter in the batch being ordered. */
  private column = new Int32Array(0);
  private out = new Int32Array(0);

  /**
   * The columns of `c` in key order: the first `c.length` entries of the
   * returned array (reused by the next call).
   */
  order(c: CounterColumns): Int32Array {
    this.update(c.table);
    const n = c.length;
    if (this.out.length < n) this.out = new Int32Array(Math.max(n, this.out.length * 2));
    const ranks = this.out.subarray(0, n);
    const rank = this.rank;
    const column = this.column;
    for (let k = 0; k < n; k++) {
      const r = rank[c.id(k)] as number;
      ranks[k] = r;
      column[r] = k;
    }
    ranks.sort();
    for (let i = 0; i < n; i++) ranks[i] = column[ranks[i] as number] as number;
    return ranks;
  }

  private update(table: CounterTable): void {
    if (this.table !== table) {
      this.table = table;
      this.known = 0;
      this.byKey = new Int32Array(0);
    }
    const n = table.length;
    const known = this.known;
    if (n === known) return;
    const keyOf = (id: number) => table.counters[id]?.key ?? "";
    const fresh = Array.from({ length: n - known }, (_, i) => known + i);
    fresh.sort((x, y) => compare(keyOf(x), keyOf(y)) || x - y);
    const merged = new Int32Array(n);
    const old = this.byKey;
    let i = 0;
    let j = 0;
    for (let p = 0; p < n; p++) {
      if (j >= fresh.length) merged[p] = old[i++] as number;
      else if (i >= known) merged[p] = fresh[j++] as number;
      else {
        const a = old[i] as number;
        const b = fresh[j] as number;
        // Old ids are below new ones: on equal keys the old one goes first.
        if (compare(keyOf(a), keyOf(b)) <= 0) merged[p] = old[i++] as number;
        else merged[p] = fresh[j++] as number;
      }
    }
    this.byKey = merged;
    if (this.rank.length < n) {
      const cap = Math.max(n, this.rank.length * 2);
      this.rank = new Int32Array(cap);
      this.column = new Int32Array(cap);
    }
    for (let p = 0; p < n; p++) this.rank[merged[p] as number] = p;
    this.known = n;
  }
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
