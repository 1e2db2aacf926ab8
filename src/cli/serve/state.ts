import type { Limitr } from "limitr-engine";
import { HttpError } from "./errors.js";
import { HoldRegistry } from "./holds.js";
import { ServeMetrics } from "./metrics.js";

/** What the routes read: the engine once it is open, and the readiness that goes with it. */
export class ServeState {
  engine: Limitr | null = null;
  /** The usage store behind the engine (for /v1/meters): a SQLite file or a postgres:// URL; null for the memory store. */
  dbPath: string | null = null;
  holds = new HoldRegistry();
  closing = false;
  readonly metrics = new ServeMetrics();

  get ready(): boolean {
    return this.engine !== null && !this.closing;
  }

  /** The engine, or a 503 while it is not ready. */
  use(): Limitr {
    if (this.closing) throw new HttpError(503, "shutting_down", "the server is shutting down");
    if (this.engine === null) throw new HttpError(503, "not_ready", "no policy is active yet");
    return this.engine;
  }
}
