import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Bundle, type BundleRecord, blobPath } from "../core/bundles/manifest.js";

/** What a poll learns about `current.json`. */
export type PointerRead =
  | { status: "unchanged" }
  | { status: "missing" }
  /** `commit()` remembers this read, so the next poll reports it unchanged; call it once the bundle is settled. */
  | { status: "changed"; text: string; commit: () => void };

/**
 * One environment of a bundle store, read the way a poller needs: the
 * pointer conditionally (it is the only file that changes), anything else
 * plainly (blobs are content-addressed and immutable).
 */
export interface PollSource {
  readonly location: string;
  pointer(signal: AbortSignal): Promise<PointerRead>;
  /** Text of a file of the environment; null when absent. */
  read(path: string, signal: AbortSignal): Promise<string | null>;
}

export const isUrl = (location: string) => /^https?:\/\//i.test(location);

export function pollSource(location: string, timeoutMs: number): PollSource {
  return isUrl(location) ? httpSource(location, timeoutMs) : directorySource(location);
}

/**
 * Over HTTP: `If-None-Match` with the last ETag, else `If-Modified-Since`
 * with the last `Last-Modified`, so an unchanged pointer costs a 304 and no
 * body. Any static host or CDN that sets either header is enough; one that
 * sets neither costs a full (small) `current.json` per poll.
 */
function httpSource(location: string, timeoutMs: number): PollSource {
  const base = location.replace(/\/+$/, "");
  let etag: string | null = null;
  let lastModified: string | null = null;

  async function get(path: string, headers: Record<string, string>, signal: AbortSignal) {
    const url = `${base}/${path}`;
    try {
      return await fetch(url, { headers, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      throw new Error(`cannot fetch ${url}: ${e.cause?.message ?? e.message}`);
    }
  }

  return {
    location: base,
    async pointer(signal) {
      const headers: Record<string, string> = {};
      if (etag !== null) headers["if-none-match"] = etag;
      else if (lastModified !== null) headers["if-modified-since"] = lastModified;
      const res = await get("current.json", headers, signal);
      if (res.status === 304) {
        await res.body?.cancel();
        return { status: "unchanged" };
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return { status: "missing" };
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`GET ${base}/current.json: HTTP ${res.status}`);
      }
      const text = await res.text();
      const nextEtag = res.headers.get("etag");
      const nextModified = res.headers.get("last-modified");
      return {
        status: "changed",
        text,
        commit: () => {
          etag = nextEtag;
          lastModified = nextModified;
        },
      };
    },
    async read(path, signal) {
      const res = await get(path, {}, signal);
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`GET ${base}/${path}: HTTP ${res.status}`);
      }
      return res.text();
    },
  };
}

/**
 * On disk: `current.json` is compared by mtime, size and inode (push
 * replaces it by rename), then by content hash, so a touched but identical
 * file is still "unchanged".
 */
function directorySource(envDir: string): PollSource {
  let stamp: string | null = null;
  let hash: string | null = null;
  const file = join(envDir, "current.json");

  return {
    location: envDir,
    async pointer() {
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing" };
        throw err;
      }
      const seen = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (seen === stamp) return { status: "unchanged" };
      const text = await readText(file);
      if (text === null) return { status: "missing" };
      const digest = createHash("sha256").update(text).digest("hex");
      if (digest === hash) {
        stamp = seen;
        return { status: "unchanged" };
      }
      return {
        status: "changed",
        text,
        commit: () => {
          stamp = seen;
          hash = digest;
        },
      };
    },
    read: (path) => readText(join(envDir, path)),
  };
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** A poll that ends without activating: why, and which version the store offered (when it got that far). */
export class PollFailure extends Error {
  constructor(
    readonly reason: string,
    readonly version: number | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The store's current bundle when it differs from `active`; null when the
 * pointer is unchanged or names the active bundle. The blob path comes from
 * the manifest's digest, never from the record's `blob` field, so a forged
 * record cannot make the loader read elsewhere.
 */
export async function fetchCandidate(
  poller: PollSource,
  active: Bundle | null,
  signal: AbortSignal,
): Promise<{ bundle: Bundle; commit: () => void } | null> {
  const read = await poller.pointer(signal);
  if (read.status === "unchanged") return null;
  if (read.status === "missing")
    throw new PollFailure(
      "missing",
      null,
      `${poller.location}/current.json does not exist: nothing was pushed`,
    );
  const record = parse<Partial<BundleRecord> | null>(read.text, `${poller.location}/current.json`, null);
  const m = record?.manifest;
  if (typeof m !== "object" || m === null)
    throw new PollFailure("malformed", null, `${poller.location}/current.json has no manifest`);
  const version = typeof m.version === "number" ? m.version : null;
  if (active !== null && m.version === active.manifest.version && m.digest === active.manifest.digest) {
    read.commit();
    return null;
  }
  let path: string;
  try {
    path = blobPath(m.digest);
  } catch {
    throw new PollFailure("malformed", version, `manifest digest ${String(m.digest)} is not sha256:<hex>`);
  }
  const text = await poller.read(path, signal);
  if (text === null)
    throw new PollFailure("malformed", version, `${poller.location}/${path} is missing (version ${version})`);
  const policy = parse(text, `${poller.location}/${path}`, version);
  return {
    bundle: { manifest: m, signature: record?.signature ?? null, policy } as Bundle,
    commit: read.commit,
  };
}

function parse<T>(text: string, where: string, version: number | null): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PollFailure("malformed", version, `${where} is not valid JSON`);
  }
}
