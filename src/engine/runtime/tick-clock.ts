/**
 * The decision path's reading of the wall clock: the real clock (the
 * engine's `Date.now`) read at most once per `every` calls and once per
 * synchronous run of the host's code (a queued microtask ends the reading),
 * instead of once per call. Callers that compare the time with an instant
 * (a period end, an expiry, a lease renewal) read the real clock with
 * `read()` when the cached reading is within `GUARD_MS` of it, so no
 * decision is made past a boundary with a reading from before it.
 */
export class TickClock {
  /** The last real reading. */
  at = 0;
  /** Calls that may still use `at` (0: read the clock again). */
  private left = 0;
  private armed = false;

  constructor(
    private readonly clock: () => number,
    private readonly every = TICK_CALLS,
  ) {}

  /** The cached reading (see the class comment for how old it may be). */
  now(): number {
    if (this.left > 0) {
      this.left--;
      return this.at;
    }
    return this.read();
  }

  /** Read the real clock (and keep the reading for the next calls). */
  read(): number {
    const t = this.clock();
    this.at = t;
    this.left = this.every;
    if (!this.armed) {
      this.armed = true;
      queueMicrotask(this.expire);
    }
    return t;
  }

  /** The host's synchronous run ended: the next call reads the clock. */
  private readonly expire = (): void => {
    this.armed = false;
    this.left = 0;
  };
}

/** Calls decided on one reading of the clock, at most. */
export const TICK_CALLS = 64;

/**
 * How close to a boundary (period end, hold or wallet expiry, grant, store
 * lease renewal) a cached reading may be before the real clock is read. A
 * reading is at most `TICK_CALLS` calls old, within one synchronous run of
 * the host's code, so this bounds how late a boundary can be seen only if
 * the host does not block its own event loop that long between two calls.
 */
export const GUARD_MS = 1000;
