import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Bundle } from "../core/bundles/manifest.js";
import type { EngineStore } from "../core/engine/store-port.js";

/**
 * The last good bundle of an environment, on local disk, so that a service
 * starting while the bundle store is unreachable still runs the policy it
 * last verified. Only verified bundles are written, and a cached bundle is
 * verified again (digest, signature, validation) when it is read: the file
 * is a convenience, never a source of trust.
 */
export interface CachedBundle extends Bundle {
  formatVersion: 1;
  /** The environment location the bundle was fetched from. */
  location: string;
  savedAt: string;
}

/**
 * `<cacheDir>/<env>.json`; without `cacheDir`, next to the SQLite file
 * (`<dir>/bundle-cache/<env>.json`). An engine on the memory store caches
 * nothing unless told where: it keeps nothing else across restarts either.
 */
export function cacheFileFor(
  cacheDir: string | undefined,
  env: string,
  store: string | EngineStore,
): string | null {
  if (cacheDir !== undefined) return join(cacheDir, `${env}.json`);
  const location = typeof store === "string" ? store : store.location;
  if (!location.startsWith("sqlite:")) return null;
  return join(dirname(location.slice("sqlite:".length)), "bundle-cache", `${env}.json`);
}

/** The cached bundle, or null when there is none. Throws when the file exists but is not JSON. */
export async function readCachedBundle(file: string): Promise<Bundle | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const doc = JSON.parse(text) as Partial<CachedBundle>;
  return { manifest: doc.manifest, signature: doc.signature ?? null, policy: doc.policy } as Bundle;
}

/**
 * Write through a temporary file in the same directory and rename it into
 * place: a crash or a concurrent reader sees the previous bundle or the new
 * one, never half a file.
 */
export async function saveCachedBundle(
  file: string,
  bundle: Bundle,
  location: string,
  savedAt: string,
): Promise<void> {
  const doc: CachedBundle = { formatVersion: 1, location, savedAt, ...bundle };
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(tmp, `${JSON.stringify(doc)}\n`, { flush: true });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
