import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Db } from "./database.js";

/**
 * Checkpoints of a long import, run by a second connection in another thread.
 *
 * In WAL mode a commit appends the batch's pages to the -wal file; a checkpoint
 * copies them into the database file and syncs both (synchronous = NORMAL). By
 * default the connection that commits runs it when the WAL passes 1,000 pages,
 * so the importing thread stops for the copy and two fsyncs every few batches.
 * Here that connection's automatic checkpoints are off and a worker runs the
 * same passive checkpoints on its own connection: commits, syncs and crash
 * recovery are unchanged (a passive checkpoint never blocks the writer and
 * copies only committed frames); only the thread that waits for them differs.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly done: Promise<void>;
  private running = true;

  private constructor(
    private readonly db: Db,
    workerFile: URL,
    private readonly autocheckpoint: number,
  ) {
    this.worker = new Worker(workerFile, { workerData: { path: db.name }, execArgv: [] });
    // A store left open must not keep the process alive.
    this.worker.unref();
    this.done = new Promise<void>((resolve) => {
      const end = () => {
        // Without the worker (it could not open the store...), the connection checkpoints by itself again.
        this.restore();
        resolve();
      };
      this.worker.once("exit", end);
      this.worker.once("error", end);
    });
    db.pragma("wal_autocheckpoint = 0");
  }

  /**
   * A checkpointer for a file store in WAL mode on a machine with a second
   * core; null otherwise (the committing connection keeps its own checkpoints).
   */
  static start(db: Db): WalCheckpointer | null {
    const workerFile = new URL("./wal-checkpoint-worker.js", import.meta.url);
    if (db.memory || db.readonly || availableParallelism() < 2 || !existsSync(workerFile)) return null;
    if (String(db.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal") return null;
    const autocheckpoint = Number(db.pragma("wal_autocheckpoint", { simple: true }));
    if (!(autocheckpoint > 0)) return null;
    return new WalCheckpointer(db, workerFile, autocheckpoint);
  }

  /** A transaction committed: the worker checkpoints soon (at most every CHECKPOINT_EVERY_MS). */
  committed(): void {
    if (this.running) this.worker.postMessage("checkpoint");
  }

  /** A last checkpoint, then the committing connection checkpoints by itself again. */
  async stop(): Promise<void> {
    if (this.running) {
      // Waited for now: the process stays up until the last checkpoint is done.
      this.worker.ref();
      this.worker.postMessage("stop");
    }
    await this.done;
  }

  private restore(): void {
    if (!this.running) return;
    this.running = false;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${this.autocheckpoint}`);
  }
}
