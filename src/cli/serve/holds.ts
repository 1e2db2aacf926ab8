import type { Hold } from "limitr-engine";
import type { HoldRow } from "limitr-engine/core/engine/store-port";
import { HttpError } from "./errors.js";

/** How long a hold's id is remembered after it expired, settled or was released (retries, late settles). */
export const HOLD_RETENTION_MS = 60 * 60_000;

type HoldState = "active" | "settled" | "released";

/**
 * Holds handed out over HTTP, by id: the engine's `settle` and `release`
 * take the Hold object, clients only keep its id. Holds the store kept from
 * an earlier run are known too. An id is forgotten `HOLD_RETENTION_MS` after
 * the hold expired or ended; afterwards it is a 404.
 */
export class HoldRegistry {
  private readonly holds = new Map<string, { hold: Hold; state: HoldState; until: number }>();

  constructor(persisted: HoldRow[] = []) {
    for (const r of persisted) {
      const { id, customer, entitlement, amount, expiresAt } = r;
      this.add(Object.freeze({ id, customer, entitlement, amount, expiresAt }));
    }
  }

  add(hold: Hold): void {
    this.holds.set(hold.id, { hold, state: "active", until: hold.expiresAt + HOLD_RETENTION_MS });
  }

  /**
   * The hold to settle: settling twice is an idempotent retry (the engine
   * counts once), settling a released hold is a conflict.
   */
  forSettle(id: string, now: number): Hold {
    const h = this.get(id, now);
    if (h.state === "released") throw new HttpError(409, "hold_released", `hold ${id} was released`);
    h.state = "settled";
    h.until = Math.max(h.until, now + HOLD_RETENTION_MS);
    return h.hold;
  }

  /** The hold to release, or null when it was already released (an idempotent retry). */
  forRelease(id: string, now: number): Hold | null {
    const h = this.get(id, now);
    if (h.state === "settled") throw new HttpError(409, "hold_settled", `hold ${id} was settled`);
    if (h.state === "released") return null;
    h.state = "released";
    h.until = Math.max(h.until, now + HOLD_RETENTION_MS);
    return h.hold;
  }

  get size(): number {
    return this.holds.size;
  }

  /** Forget ids past their retention. */
  prune(now: number): void {
    for (const [id, h] of this.holds) if (h.until <= now) this.holds.delete(id);
  }

  private get(id: string, now: number) {
    const h = this.holds.get(id);
    if (h === undefined || h.until <= now) throw new HttpError(404, "unknown_hold", `no hold ${id}`);
    return h;
  }
}
