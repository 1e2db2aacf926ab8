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

/** What the manifest says of a blob, checked while its bytes arrive. */
export interface Expected {
  /** Bundle version, for the failure's report. */
  version: number | null;
  size?: number | undefined;
  /** `sha256:<hex>` of the bytes. */
  digest?: string | undefined;
}

/**
 * One environment of a bundle store, read the way a poller needs: the
 * pointer conditionally (it is the only file that changes), anything else
 * plainly (blobs are content-addressed and immutable). No file is read past
 * `maxBytes`.
 */
export interface PollSource {
  readonly location: string;
  readonly maxBytes: number;
  pointer(signal: AbortSignal): Promise<PointerRead>;
  /** Text of a file of the environment; null when absent. */
  read(path: string, signal: AbortSignal, expected?: Expected): Promise<string | null>;
}

export const isUrl = (location: string) => /^https?:\/\//i.test(location);

export function pollSource(location: string, maxBytes: number): PollSource {
  return isUrl(location) ? httpSource(location, maxBytes) : directorySource(location, maxBytes);
}

/**
 * A signal that aborts after `ms`, or with `parent`. A timer held here, not
 * `AbortSignal.timeout`: combined with `AbortSignal.any`, that one can be
 * garbage-collected while a request still waits on it, and a host that
 * accepts the connection and never answers then holds the request for
 * minutes. Call `done()` when the work ends.
 */
export function deadline(
  parent: AbortSignal | null,
  ms: number,
  what: string,
): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(parent?.reason);
  if (parent?.aborted) ctl.abort(parent.reason);
  else parent?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => ctl.abort(new Error(`${what} timed out after ${ms} ms`)), ms);
  timer.unref();
  return {
    signal: ctl.signal,
    done: () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

function tooLarge(where: string, bytes: string, maxBytes: number, expected?: Expected): PollFailure {
  const size = expected?.size;
  const why =
    size !== undefined && size < maxBytes
      ? `more than the ${size} bytes its manifest declares`
      : `over the ${maxBytes}-byte limit (maxBundleBytes)`;
  return new PollFailure("too_large", expected?.version ?? null, `${where} is ${bytes}: ${why}`);
}

/**
 * Read a response body up to a limit: the declared length first, then the
 * bytes as they arrive, hashed on the way. Past the limit the request is
 * aborted, so a huge or endless blob costs at most `limit` bytes of memory.
 */
async function readBody(
  res: Response,
  where: string,
  maxBytes: number,
  expected?: Expected,
): Promise<string> {
  const limit = Math.min(maxBytes, expected?.size ?? Infinity);
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > limit && res.headers.get("content-encoding") === null) {
    await res.body?.cancel();
    throw tooLarge(where, `${declared} bytes`, maxBytes, expected);
  }
  const hash = expected?.digest === undefined ? null : createHash("sha256");
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel();
        throw tooLarge(where, `at least ${total} bytes`, maxBytes, expected);
      }
      hash?.update(value);
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof PollFailure) throw err;
    const e = err as Error & { cause?: Error };
    throw new Error(`cannot fetch ${where}: ${e.cause?.message ?? e.message}`);
  }
  if (expected?.size !== undefined && total !== expected.size)
    throw new PollFailure(
      "digest_mismatch",
      expected.version,
      `${where} is ${total} bytes, which does not match manifest size ${expected.size}`,
    );
  const actual = hash === null ? null : `sha256:${hash.digest("hex")}`;
  if (actual !== null && actual !== expected?.digest)
    throw new PollFailure(
      "digest_mismatch",
      expected?.version ?? null,
      `blob digest ${actual} does not match manifest ${expected?.digest}`,
    );
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Over HTTP: `If-None-Match` with the last ETag, else `If-Modified-Since`
 * with the last `Last-Modified`, so an unchanged pointer costs a 304 and no
 * body. Any static host or CDN that sets either header is enough; one that
 * sets neither costs a full (small) `current.json` per poll.
 */
function httpSource(location: string, maxBytes: number): PollSource {
  const base = location.replace(/\/+$/, "");
  let etag: string | null = null;
  let lastModified: string | null = null;

  async function get(path: string, headers: Record<string, string>, signal: AbortSignal) {
    const url = `${base}/${path}`;
    try {
      return await fetch(url, { headers, signal });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      throw new Error(`cannot fetch ${url}: ${e.cause?.message ?? e.message}`);
    }
  }

  return {
    location: base,
    maxBytes,
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
      const text = await readBody(res, `${base}/current.json`, maxBytes);
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
    async read(path, signal, expected) {
      const res = await get(path, {}, signal);
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`GET ${base}/${path}: HTTP ${res.status}`);
      }
      return readBody(res, `${base}/${path}`, maxBytes, expected);
    },
  };
}

/**
 * On disk: `current.json` is compared by mtime, size and inode (push
 * replaces it by rename), then by content hash, so a touched but identical
 * file is still "unchanged".
 */
function directorySource(envDir: string, maxBytes: number): PollSource {
  let stamp: string | null = null;
  let hash: string | null = null;
  const file = join(envDir, "current.json");

  return {
    location: envDir,
    maxBytes,
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
      if (st.size > maxBytes) throw tooLarge(file, `${st.size} bytes`, maxBytes);
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
    async read(path, _signal, expected) {
      const file = join(envDir, path);
      const size = await stat(file).then(
        (st) => st.size,
        () => null,
      );
      const limit = Math.min(maxBytes, expected?.size ?? Infinity);
      if (size !== null && size > limit) throw tooLarge(file, `${size} bytes`, maxBytes, expected);
      return readText(file);
    },
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
  const size = typeof m.size === "number" ? m.size : undefined;
  // A declared size over the limit is refused before a byte of the blob is fetched.
  if (size !== undefined && size > poller.maxBytes)
    throw tooLarge(`${poller.location}/${path}`, `declared as ${size} bytes`, poller.maxBytes, { version });
  const text = await poller.read(path, signal, { version, size, digest: m.digest });
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
