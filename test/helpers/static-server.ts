import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize, sep } from "node:path";

export interface ServedRequest {
  path: string;
  status: number;
  at: number;
  ifNoneMatch: string | null;
  ifModifiedSince: string | null;
}

/**
 * A static file server for a bundle store directory, like any CDN or static
 * host: GET only, `ETag` (sha256 of the bytes) with `If-None-Match`, and
 * `Last-Modified` with `If-Modified-Since`. Tests can stop and restart it on
 * the same port, make it fail or slow, serve other bytes for one path, and
 * read the log of requests it answered.
 */
export class StaticServer {
  readonly requests: ServedRequest[] = [];
  /** Answer every request with this status (e.g. 503) instead of the file. */
  failWith: number | null = null;
  /** Wait this long before answering. */
  delayMs = 0;
  /** Send ETag headers (off: only Last-Modified, to exercise the fallback). */
  etags = true;
  /** Accept every request and never answer it (a hung host); logged with status 0 on arrival. */
  hang = false;
  /** Bytes written to streamed bodies (see `stream`), until each client went away. */
  streamedBytes = 0;
  private readonly streams = new Map<string, { bytes: number; length: boolean }>();
  /** Requests received, counted on arrival (the log above is written on answer). */
  arrived = 0;
  inFlight = 0;
  maxInFlight = 0;
  private readonly overrides = new Map<string, string>();
  private server: Server | null = null;
  private port = 0;

  constructor(private readonly root: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listen (again) on 127.0.0.1, on the same port as before when restarted. */
  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Serve `text` for `path` (relative to the root) instead of the file on disk; null restores the file. */
  override(path: string, text: string | null): void {
    if (text === null) this.overrides.delete(path);
    else this.overrides.set(path, text);
  }

  /**
   * Answer `path` with `bytes` bytes of JSON-ish filler written chunk by
   * chunk (Infinity: without end, until the client aborts), announcing the
   * length when `length` is set. null restores the file.
   */
  stream(path: string, bytes: number | null, length = false): void {
    if (bytes === null) this.streams.delete(path);
    else this.streams.set(path, { bytes, length });
  }

  /** Requests for one path (e.g. `staging/current.json`). */
  requestsFor(path: string): ServedRequest[] {
    return this.requests.filter((r) => r.path === `/${path}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.arrived++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const log = (status: number) =>
      this.requests.push({
        path,
        status,
        at: Date.now(),
        ifNoneMatch: (req.headers["if-none-match"] as string | undefined) ?? null,
        ifModifiedSince: (req.headers["if-modified-since"] as string | undefined) ?? null,
      });
    if (this.hang) {
      log(0);
      this.inFlight--;
      return;
    }
    const streamed = this.streams.get(path.replace(/^\/+/, ""));
    if (streamed !== undefined) {
      log(200);
      this.inFlight--;
      this.writeStream(res, streamed.bytes, streamed.length);
      return;
    }
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const status = this.respond(path, req, res);
      log(status);
    } finally {
      this.inFlight--;
    }
  }

  private writeStream(res: ServerResponse, bytes: number, length: boolean): void {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (length && Number.isFinite(bytes)) headers["content-length"] = String(bytes);
    res.writeHead(200, headers);
    writeFiller(res, bytes, (n) => {
      this.streamedBytes += n;
    });
  }

  private respond(path: string, req: IncomingMessage, res: ServerResponse): number {
    const send = (status: number, headers: Record<string, string> = {}, body?: Buffer) => {
      res.writeHead(status, headers);
      res.end(body);
      return status;
    };
    if (this.failWith !== null) return send(this.failWith);
    if (req.method !== "GET") return send(405);
    const rel = path.replace(/^\/+/, "");
    const file = normalize(join(this.root, rel));
    if (!file.startsWith(this.root + sep)) return send(404);
    let body: Buffer;
    let modified: Date;
    const override = this.overrides.get(rel);
    if (override !== undefined) {
      body = Buffer.from(override);
      modified = new Date();
    } else {
      try {
        if (!statSync(file).isFile()) return send(404);
        body = readFileSync(file);
        modified = statSync(file).mtime;
      } catch {
        return send(404);
      }
    }
    const etag = `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"`;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "last-modified": modified.toUTCString(),
      "cache-control": "no-cache",
    };
    if (this.etags) headers.etag = etag;
    const inm = req.headers["if-none-match"];
    const ims = req.headers["if-modified-since"];
    if (this.etags && inm !== undefined) {
      if (inm === etag) return send(304, headers);
    } else if (ims !== undefined && Math.floor(modified.getTime() / 1000) <= Date.parse(ims) / 1000) {
      return send(304, headers);
    }
    return send(200, headers, body);
  }
}

/** Filler streamed as fast as the client reads it; stops when it goes away (or at 4 GiB, a safety bound). */
function writeFiller(res: ServerResponse, bytes: number, onChunk: (n: number) => void): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let left = Math.min(bytes, 4 * 1024 ** 3);
  let gone = false;
  res.on("close", () => {
    gone = true;
  });
  const pump = () => {
    while (!gone && left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      onChunk(piece.length);
      if (!res.write(piece)) {
        res.once("drain", pump);
        return;
      }
    }
    if (!gone) res.end();
  };
  pump();
}

/** Start a static server for `root`. */
export function serveDirectory(root: string): Promise<StaticServer> {
  return new StaticServer(root).start();
}
