import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { ConflictError } from "limitr-engine/core/errors";

/**
 * An exclusive lock on a bundle store environment: a file created with
 * O_EXCL (`wx`), holding the owner's pid, host and start time. A lock whose
 * owner process is gone (same host) or that is older than `staleMs` is
 * broken, by renaming it aside first so two breakers cannot both win.
 */
export interface LockOptions {
  timeoutMs?: number;
  staleMs?: number;
}

interface LockInfo {
  pid: number;
  host: string;
  at: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readInfo(file: string): { info: LockInfo | null; mtime: number } | null {
  try {
    const mtime = statSync(file).mtimeMs;
    let info: LockInfo | null = null;
    try {
      info = JSON.parse(readFileSync(file, "utf8")) as LockInfo;
    } catch {
      // being written right now, or garbage: judged by age alone
    }
    return { info, mtime };
  } catch {
    return null;
  }
}

function isStale(found: { info: LockInfo | null; mtime: number }, staleMs: number): boolean {
  if (Date.now() - found.mtime > staleMs) return true;
  const { info } = found;
  return info !== null && info.host === hostname() && !alive(info.pid);
}

function tryBreak(file: string, seen: { info: LockInfo | null; mtime: number }): void {
  const aside = `${file}.stale.${process.pid}.${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = readInfo(aside);
  if (moved && moved.mtime !== seen.mtime) {
    // We moved a fresh lock taken after our check: put it back if its place is still free.
    try {
      renameSync(aside, file);
      return;
    } catch {
      // its owner will find it gone on release; versions/<n>.json is still created exclusively
    }
  }
  rmSync(aside, { force: true });
}

/** Run `fn` holding the lock at `file`; released on return or throw. */
export async function withLock<T>(
  file: string,
  fn: () => Promise<T> | T,
  opts: LockOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const staleMs = opts.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const found = readInfo(file);
    if (found && isStale(found, staleMs)) {
      tryBreak(file, found);
      continue;
    }
    if (Date.now() > deadline) {
      const who = found?.info ? `pid ${found.info.pid} on ${found.info.host}` : "another process";
      throw new ConflictError(
        `bundle store is locked by ${who} (${file}); retry, or remove the file if no push is running`,
      );
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
