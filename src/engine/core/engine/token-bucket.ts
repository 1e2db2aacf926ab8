import type { RateGovernor } from "../model.js";

/**
 * A token bucket: the `rate` burst governor of an entitlement. Holds up to
 * `capacity` tokens and refills `perSecond` tokens a second; a call of n units
 * needs n tokens. Time is passed in (epoch ms) and never runs backwards here:
 * an earlier timestamp refills nothing.
 *
 * @example
 * const b = new TokenBucket({ capacity: 10, perSecond: 2 }, now);
 * b.take(1, now); // true, 9 tokens left
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly capacity: number;
  private readonly perMs: number;

  constructor(rate: RateGovernor, now: number) {
    this.capacity = rate.capacity;
    this.perMs = rate.perSecond / 1000;
    this.tokens = rate.capacity;
    this.updatedAt = now;
  }

  /** This bucket has the shape `rate` describes (a reloaded policy may change it). */
  governs(rate: RateGovernor): boolean {
    return rate.capacity === this.capacity && rate.perSecond / 1000 === this.perMs;
  }

  /** Tokens available at `now` (refilled, not consumed). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Take `n` tokens if available. A refused call consumes nothing. */
  take(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens + 1e-9 < n) return false;
    this.tokens -= n;
    return true;
  }

  private refill(now: number): void {
    const dt = now - this.updatedAt;
    if (dt <= 0) return;
    this.updatedAt = now;
    const t = this.tokens + dt * this.perMs;
    this.tokens = Math.min(t, this.capacity);
  }
}
