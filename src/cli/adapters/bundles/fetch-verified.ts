import { nodeBundleCrypto } from "limitr-engine/adapters/bundles/crypto";
import { httpReader } from "limitr-engine/adapters/bundles/http-reader";
import type { Bundle } from "limitr-engine/core/bundles/manifest";
import { type BundleReader, fetchBundle, readCurrent } from "limitr-engine/core/bundles/port";
import { type VerifyOptions, type VerifyResult, verifyBundle } from "limitr-engine/core/bundles/verify";
import { directoryReader } from "./directory-store.js";

/** A reader for an environment given as a directory path or an http(s) URL. */
export function readerForEnvironment(location: string): BundleReader {
  return /^https?:\/\//i.test(location) ? httpReader(location) : directoryReader(location);
}

export type FetchOutcome =
  | { status: "empty" }
  | { status: "accepted"; bundle: Bundle; noop: boolean }
  | { status: "rejected"; result: Extract<VerifyResult, { ok: false }> };

/**
 * Fetch an environment's current bundle (current.json, then its blob) and
 * verify it against the active manifest: what a loader does on each poll.
 * Transport errors throw; a bad bundle is a `rejected` outcome, never a throw,
 * so the caller keeps its last-known-good bundle (R15).
 *
 * @example
 *   const r = await fetchVerifiedBundle(readerForEnvironment("https://cdn.example/limitr/production"),
 *     { publicKeys: trustedKeysFromPem([pem]), current: active?.manifest });
 *   if (r.status === "accepted" && !r.noop) activate(r.bundle);
 */
export async function fetchVerifiedBundle(
  reader: BundleReader,
  opts: Omit<VerifyOptions, "crypto"> & { crypto?: VerifyOptions["crypto"] },
): Promise<FetchOutcome> {
  const record = await readCurrent(reader);
  if (!record) return { status: "empty" };
  let bundle: Bundle;
  try {
    bundle = await fetchBundle(reader, record);
  } catch (err) {
    return {
      status: "rejected",
      result: { ok: false, reason: "malformed", message: (err as Error).message },
    };
  }
  const result = verifyBundle(bundle, { crypto: nodeBundleCrypto, ...opts });
  return result.ok ? { status: "accepted", bundle, noop: result.noop } : { status: "rejected", result };
}
