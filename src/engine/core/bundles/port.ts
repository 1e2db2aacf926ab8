import type { Bundle, BundleRecord, PinRecord } from "./manifest.js";

/**
 * Read side of a bundle store for one environment: a directory or the same
 * layout over HTTP. Paths are relative to the environment
 * (`current.json`, `versions/3.json`, `blobs/sha256/<hex>.json`).
 */
export interface BundleReader {
  /** Where it reads from, for messages. */
  readonly location: string;
  /** Text of a file of the environment, or null when absent. */
  readText(path: string): Promise<string | null>;
  /** Version numbers present, ascending (a directory lists them; HTTP derives them from current.json). */
  listVersions(): Promise<number[]>;
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

export async function readRecord(reader: BundleReader, path: string): Promise<BundleRecord | null> {
  const text = await reader.readText(path);
  return text === null ? null : parseJson<BundleRecord>(text, `${reader.location}/${path}`);
}

export const readCurrent = (reader: BundleReader) => readRecord(reader, "current.json");
export const readVersion = (reader: BundleReader, n: number) => readRecord(reader, `versions/${n}.json`);

export async function readPin(reader: BundleReader): Promise<PinRecord | null> {
  const text = await reader.readText("pinned.json");
  return text === null ? null : parseJson<PinRecord>(text, `${reader.location}/pinned.json`);
}

/** The record plus its content: what `verifyBundle` checks. Throws when the blob is missing. */
export async function fetchBundle(reader: BundleReader, record: BundleRecord): Promise<Bundle> {
  const text = await reader.readText(record.blob);
  if (text === null)
    throw new Error(`${reader.location}/${record.blob} is missing (version ${record.manifest.version})`);
  return {
    manifest: record.manifest,
    signature: record.signature,
    policy: parseJson(text, `${reader.location}/${record.blob}`),
  };
}

/** In-memory store content, for tests and examples: path -> text. */
export function memoryReader(files: Map<string, string>, location = "memory"): BundleReader {
  return {
    location,
    readText: async (path) => files.get(path) ?? null,
    listVersions: async () =>
      [...files.keys()]
        .map((p) => /^versions\/(\d+)\.json$/.exec(p)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b),
  };
}
