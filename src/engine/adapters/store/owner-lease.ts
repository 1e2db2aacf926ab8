import { hostname } from "node:os";

/**
 * The SQLite store's owner lease, as the `engine.owner` row of `meta` holds
 * it, and who counts as its live holder.
 */

/** Default lease: an owner that has not renewed for this long may be taken over (its engine is then fenced). */
export const DEFAULT_LEASE_MS = 30_000;

export interface Owner {
  pid: number;
  host: string;
  token: string;
  heartbeat: number;
  /** The holder's lease length (rows written before leases were configurable have none: the default). */
  leaseMs?: number;
}

export function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Owner;
    return typeof o.pid === "number" && typeof o.host === "string" ? o : null;
  } catch {
    return null;
  }
}

/**
 * An owner holds the store while its lease is fresh. On this host a process
 * that is gone frees it at once; a live one that stopped renewing (paused,
 * blocked) loses it after its lease, and is fenced when it resumes.
 */
export function isLive(owner: Owner, now: number): boolean {
  if (owner.host === hostname() && !pidAlive(owner.pid)) return false;
  return now - owner.heartbeat < (owner.leaseMs ?? DEFAULT_LEASE_MS);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
