/**
 * "At most N in any window of length W" with bounded memory: usage is kept
 * in BUCKETS buckets of `bucketMs = ceil(W / BUCKETS)` each, a ring of
 * BUCKETS + 1 sums per counter whatever the traffic.
 *
 * At time t the count is every bucket that overlaps the window (t - W, t],
 * the oldest one whole. Every unit counted in the last W is therefore in the
 * count (never an overshoot: a hard limit holds in every window of length
 * W), and the count may also hold units up to one bucket older than that.
 * So the engine may deny early, by at most one bucket (1/60 of the window:
 * 24 minutes of PT24H, 1 second of PT1M), never late. A bucket leaves the
 * count at `(k + 1) * bucketMs + W`, which is when its units free up.
 */
export const BUCKETS = 60;
const RING = BUCKETS + 1;
/** Float residue of adding and taking away fractional amounts. */
const EPS = 1e-9;

export class SlidingWindow {
  readonly bucketMs: number;
  private readonly sums = new Float64Array(RING);
  /** Absolute index of the oldest bucket still counted. */
  private lo = 0;
  /** Absolute index of the newest bucket written (lo - 1 when none). */
  private hi = -1;
  /** Sum of the counted buckets. */
  total = 0;

  constructor(readonly windowMs: number) {
    this.bucketMs = Math.ceil(windowMs / BUCKETS);
  }

  /** Drop the buckets that no longer overlap the window ending at `now`. */
  advance(now: number): void {
    const low = Math.floor((now - this.windowMs) / this.bucketMs);
    if (low <= this.lo) return;
    if (this.hi < low) {
      this.sums.fill(0);
      this.lo = low;
      this.hi = low - 1;
      this.total = 0;
      return;
    }
    for (let k = this.lo; k < low; k++) this.sums[slot(k)] = 0;
    this.lo = low;
    this.recount();
  }

  /**
   * Count `amount` at `now` (negative: a refund, taken from the newest buckets
   * first, never below zero). Units older than the window are not kept.
   * Returns the change applied to `total`.
   */
  add(now: number, amount: number): number {
    this.advance(now);
    const k = Math.floor(now / this.bucketMs);
    if (k < this.lo) return 0;
    if (k > this.hi) this.hi = k;
    const before = this.total;
    if (amount >= 0) this.sums[slot(k)] = (this.sums[slot(k)] as number) + amount;
    else {
      let left = -amount;
      for (let j = Math.min(k, this.hi); j >= this.lo && left > 0; j--) {
        const take = Math.min(this.sums[slot(j)] as number, left);
        this.sums[slot(j)] = (this.sums[slot(j)] as number) - take;
        left -= take;
      }
    }
    this.recount();
    return this.total - before;
  }

  /** When the oldest bucket holding usage leaves the window (Infinity when nothing is counted). */
  nextRelease(): number {
    for (let k = this.lo; k <= this.hi; k++)
      if ((this.sums[slot(k)] as number) > EPS) return (k + 1) * this.bucketMs + this.windowMs;
    return Number.POSITIVE_INFINITY;
  }

  /** The buckets holding usage as `k:sum,k:sum` (what a shared pool starts from when it does not exist yet). */
  bucketList(): string {
    const parts: string[] = [];
    for (let k = this.lo; k <= this.hi; k++) {
      const v = this.sums[slot(k)] as number;
      if (v > 0) parts.push(`${k}:${v}`);
    }
    return parts.join(",");
  }

  /** Text of the buckets holding usage, to persist: `bucketMs;lo;k:sum,k:sum`. */
  serialize(): string {
    const parts: string[] = [];
    for (let k = this.lo; k <= this.hi; k++) {
      const v = this.sums[slot(k)] as number;
      if (v > 0) parts.push(`${k}:${v}`);
    }
    return `${this.bucketMs};${this.lo};${parts.join(",")}`;
  }

  /** Load what `serialize` wrote; ignored when the bucket size differs (the window's length changed). */
  restore(text: string): void {
    const [size, lo, list] = text.split(";");
    if (Number(size) !== this.bucketMs || list === undefined) return;
    this.sums.fill(0);
    this.lo = Number(lo);
    this.hi = this.lo - 1;
    for (const part of list === "" ? [] : list.split(",")) {
      const [k, v] = part.split(":").map(Number) as [number, number];
      if (k < this.lo || k >= this.lo + RING || !(v > 0)) continue;
      this.sums[slot(k)] = v;
      if (k > this.hi) this.hi = k;
    }
    this.recount();
  }

  private recount(): void {
    let t = 0;
    for (let k = this.lo; k <= this.hi; k++) t += this.sums[slot(k)] as number;
    this.total = t < EPS ? 0 : t;
  }
}

function slot(k: number): number {
  return ((k % RING) + RING) % RING;
}
