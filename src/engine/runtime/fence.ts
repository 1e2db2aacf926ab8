import type { StoreLease } from "../core/engine/store-port.js";

/**
 * The engine's side of the store's owner lease. The lease is renewed every
 * third of its length (a timer, or the first call after that instant when
 * the event loop was busy), so another engine can take the store over only
 * after this one went a whole lease without renewing: it was paused
 * (SIGSTOP, a VM freeze) or blocked. A renewal that finds the lease taken,
 * or a write that does, fences the engine: decisions are refused with
 * `store_lease_lost` until the lease is taken back, and then the engine
 * reloads its counters, holds and plans from the store (`regained`).
 *
 * The hot path costs one comparison: the call's `now`, read anyway, against
 * `due`. `due` is a wall-clock instant, so with the default clock a resumed
 * engine checks its lease on its very first call. Calls that pass an explicit
 * `now` behind the wall clock rely on the timer and the flush-time check.
 */
export class Fence {
  /** Calls at or after this instant confirm the lease first: Infinity without a lease, -Infinity while lost. */
  due = Infinity;
  lost = false;
  /** Wall-clock time the loss was noticed. */
  lostAt: number | null = null;
  /**
   * The store's write buffer is full (Postgres unreachable for long): counted
   * calls are refused with `store_backlog` until it has room again, so the
   * buffer stays bounded and no recorded event is dropped.
   */
  backlog = false;
  /** Whether the store's buffer is still too full to take more (checked on calls while `backlog`). */
  backlogged: () => boolean = () => false;
  /** Wall-clock instant of the next renewal (`due` while the lease is held). */
  private renewAt = Infinity;
  private retryAt = -Infinity;
  private readonly every: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly lease: StoreLease | null,
    private readonly hooks: { lost(): void; regained(): void },
  ) {
    this.every = lease === null ? Infinity : Math.max(1, Math.floor(lease.leaseMs / 3));
    if (lease === null) return;
    this.renewAt = this.due = Date.now() + this.every;
    this.timer = setInterval(() => this.tick(), this.every).unref();
  }

  /** Slow path of a call whose `now` reached `due`: true when the call may be decided. */
  held(_now: number): boolean {
    if (this.backlog) {
      if (this.backlogged()) return false;
      this.backlog = false;
      this.due = this.lost ? -Infinity : this.lease === null ? Infinity : this.renewAt;
      if (this.lease === null) return true;
    }
    if (this.lost) return this.regain(Date.now());
    const wall = Date.now();
    if (wall < this.renewAt) return true; // an explicit `now` ahead of the wall clock
    return this.renew(wall);
  }

  /** The store refused a batch for a full buffer: refuse counted calls until it drains. */
  markBacklog(): void {
    if (this.backlog) return;
    this.backlog = true;
    this.due = -Infinity;
  }

  /** Why calls are refused while not held. */
  get reason(): "store_lease_lost" | "store_backlog" {
    return this.lost ? "store_lease_lost" : "store_backlog";
  }

  /** A write or a renewal found the store owned by another engine. */
  markLost(): void {
    if (this.lost || this.lease === null) return;
    this.lost = true;
    this.lostAt = Date.now();
    this.due = -Infinity;
    this.retryAt = this.lostAt + this.every;
    this.hooks.lost();
  }

  /** What status() reports while the lease is lost; null while held. */
  problem(location: string): string | null {
    if (!this.lost) return null;
    const at = new Date(this.lostAt ?? 0).toISOString();
    return `store lease lost at ${at}: another engine took ${location} over; decisions are refused (store_lease_lost) until this engine takes it back`;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const wall = Date.now();
    if (this.lost) this.regain(wall);
    else this.renew(wall);
  }

  private renew(wall: number): boolean {
    const lease = this.lease as StoreLease;
    let ok: boolean;
    try {
      ok = lease.renew();
    } catch {
      // A busy store: the next tick or call tries again; the lease lasts three renewal periods.
      return true;
    }
    if (!ok) {
      this.markLost();
      return false;
    }
    this.renewAt = this.due = wall + this.every;
    return true;
  }

  /** While lost: try to take the lease back, at most once a renewal period. */
  private regain(wall: number): boolean {
    if (wall < this.retryAt) return false;
    this.retryAt = wall + this.every;
    let taken = false;
    try {
      taken = (this.lease as StoreLease).reacquire();
    } catch {
      taken = false;
    }
    if (!taken) return false;
    this.hooks.regained();
    this.lost = false;
    this.lostAt = null;
    this.renewAt = this.due = wall + this.every;
    return true;
  }
}
