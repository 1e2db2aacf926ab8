import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InputError, LimitrError } from "limitr-engine/core/errors";

/**
 * A usage file as blocks of whole lines of text, read as a stream (optionally
 * gunzipped). Text is decoded strictly: a line that is not valid UTF-8 is
 * listed in `bad` (its text is decoded with replacement characters only so
 * that a CSV parser keeps its place), never silently accepted. A file that
 * cannot be read to its end (a truncated .gz) is an InputError naming the
 * file and the first line that could not be read.
 */
export interface LineBlock {
  /** Whole lines, each ending in "\n" except perhaps the file's last. */
  text: string;
  /** 1-based number of the block's first line. */
  firstLine: number;
  /** Lines (1-based, file-wide) that are not valid UTF-8; null when all are. */
  bad: Set<number> | null;
  /** Bytes of the file on disk (compressed or not) read so far: progress against its size. */
  bytesRead: number;
}

function open(path: string): { stream: Readable; file: { bytesRead: number } } {
  // Compressed input expands about tenfold: smaller reads keep `bytesRead` close to what was parsed.
  const gz = path.toLowerCase().endsWith(".gz");
  const file = createReadStream(path, { highWaterMark: gz ? 1 << 17 : 1 << 20 });
  if (!gz) return { stream: file, file };
  // Larger output chunks than zlib's 16 KiB: fewer, larger blocks (and batches) downstream.
  const gunzip = createGunzip({ chunkSize: 1 << 18 });
  // pipe() does not forward the source's errors.
  file.on("error", (err) => gunzip.destroy(err));
  return { stream: file.pipe(gunzip), file };
}

const NL = 0x0a;
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

export async function* lineBlocks(path: string): AsyncIterable<LineBlock> {
  // The tail of the last chunk(s) after their last newline: kept as a list, so that a
  // very long line costs one copy, not one per chunk.
  const pending: Buffer[] = [];
  let next = 1;
  let first = true;
  const { stream, file } = open(path);
  const block = (bytes: Buffer): LineBlock => {
    if (first) {
      first = false;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    }
    const b = decode(bytes, next, file.bytesRead);
    for (let p = bytes.indexOf(NL); p >= 0; p = bytes.indexOf(NL, p + 1)) next++;
    return b;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      // A newline byte is never part of a multi-byte character: blocks end on one.
      const end = chunk.lastIndexOf(NL);
      if (end < 0) {
        pending.push(chunk);
        continue;
      }
      const lines = chunk.subarray(0, end + 1);
      const whole = pending.length === 0 ? lines : Buffer.concat([...pending, lines]);
      pending.length = 0;
      if (end + 1 < chunk.length) pending.push(chunk.subarray(end + 1));
      yield block(whole);
    }
  } catch (err) {
    throw readFailure(path, next, err);
  }
  if (pending.length > 0) yield block(Buffer.concat(pending));
}

function decode(bytes: Buffer, firstLine: number, bytesRead: number): LineBlock {
  try {
    return { text: strict.decode(bytes), firstLine, bad: null, bytesRead };
  } catch {
    // Rare: find the offending lines.
    const bad = new Set<number>();
    let line = firstLine;
    for (let start = 0; start < bytes.length; line++) {
      let nl = bytes.indexOf(NL, start);
      if (nl < 0) nl = bytes.length;
      if (!isUtf8(bytes.subarray(start, nl))) bad.add(line);
      start = nl + 1;
    }
    return { text: lenient.decode(bytes), firstLine, bad, bytesRead };
  }
}

function readFailure(path: string, line: number, err: unknown): Error {
  if (err instanceof LimitrError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason =
    e.code === "Z_BUF_ERROR"
      ? "the compressed data ends early (truncated .gz?)"
      : e.code?.startsWith("Z_")
        ? `not valid gzip data (${e.message})`
        : `cannot read the file (${e.message})`;
  return new InputError(`${path}:${line}: ${reason}`);
}
