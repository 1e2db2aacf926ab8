import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import {
  type BundleManifest,
  type BundleRecord,
  type BundleSignature,
  blobPath,
  type PinRecord,
} from "limitr-engine/core/bundles/manifest";
import { type BundleReader, readCurrent, readPin, readVersion } from "limitr-engine/core/bundles/port";
import { ConflictError } from "limitr-engine/core/errors";
import { type LockOptions, withLock } from "./lock.js";

/**
 * A bundle store environment on disk (SPEC §7):
 *
 *     <env>/blobs/sha256/<hex>.json   canonical policy JSON; its sha256 is the digest
 *     <env>/versions/<n>.json         append-only records, created exclusively
 *     <env>/current.json              the pointer (a copy of the newest record)
 *     <env>/pinned.json               present while a rollback pins the environment
 *
 * Writers hold `<env>/.lock`; every file is written to a temporary name and
 * renamed (or hard-linked, for versions) into place, so readers never see a
 * partial file and a crash never leaves one.
 */
export function directoryReader(envDir: string): BundleReader {
  return {
    location: envDir,
    readText: async (path) => {
      try {
        return readFileSync(join(envDir, path), "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    },
    listVersions: async () => listVersionNumbers(envDir),
  };
}

function listVersionNumbers(envDir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(join(envDir, "versions"));
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.json$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

let tmpCounter = 0;
const tmpName = (file: string) => `${file}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`;

/** Write via a temporary file and rename: readers see the old or the new file, never half of one. */
function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tmpName(file);
  writeFileSync(tmp, text, { flush: true });
  renameSync(tmp, file);
}

/** Create `file` with complete content, failing with EEXIST if it exists: link(2) is atomic and exclusive. */
function createExclusive(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tmpName(file);
  writeFileSync(tmp, text, { flush: true });
  try {
    linkSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const pretty = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export interface PublishRequest {
  /** Canonical policy JSON and its `sha256:` digest. */
  policyJson: string;
  digest: string;
  /** Build the next manifest from the newest published one (null for the first). */
  manifest: (latest: BundleManifest | null) => BundleManifest;
  sign: ((manifest: BundleManifest) => BundleSignature) | null;
  /** Compare-and-swap: the newest version must be exactly this (0 = no version yet). */
  expectVersion?: number;
  /** Publish even though the environment is pinned; the pin is lifted unless `pin` sets a new one. */
  ignorePin: boolean;
  /** Pin the environment after publishing (rollback). */
  pin?: PinRecord | ((version: number) => PinRecord);
  lock?: LockOptions;
}

export interface PublishResult {
  status: "published" | "unchanged";
  record: BundleRecord;
  /** The pin in force afterwards. */
  pinned: PinRecord | null;
  /** A pin this (forced) publication lifted. */
  unpinned?: PinRecord;
}

/**
 * Publish a version under the environment lock. The newest `versions/<n>.json`
 * is the truth (current.json is rewritten from it), so a crash between the
 * two writes heals on the next push.
 */
export async function publish(envDir: string, req: PublishRequest): Promise<PublishResult> {
  mkdirSync(envDir, { recursive: true });
  return withLock(join(envDir, ".lock"), () => publishLocked(envDir, req), req.lock);
}

async function publishLocked(envDir: string, req: PublishRequest): Promise<PublishResult> {
  const reader = directoryReader(envDir);
  const numbers = listVersionNumbers(envDir);
  const newest = numbers.length ? numbers[numbers.length - 1] : undefined;
  const latest = newest !== undefined ? await readVersion(reader, newest) : await readCurrent(reader);
  const latestVersion = latest?.manifest.version ?? 0;
  if (latest && (await readCurrent(reader))?.manifest.version !== latestVersion) {
    // A writer died between creating versions/<n>.json and moving the pointer: finish its work.
    writeAtomic(join(envDir, "current.json"), pretty(latest));
  }
  if (req.expectVersion !== undefined && latestVersion !== req.expectVersion) {
    throw new ConflictError(
      `expected version ${req.expectVersion} but ${envDir} is at version ${latestVersion}; pull, review and retry`,
    );
  }
  const pinned = await readPin(reader);
  const pinFor = (v: number) => (typeof req.pin === "function" ? req.pin(v) : (req.pin ?? null));
  // Same content is a no-op even while pinned: nothing would change for any loader.
  if (latest && latest.manifest.digest === req.digest) {
    const pin = pinFor(latest.manifest.version);
    if (pin) writeAtomic(join(envDir, "pinned.json"), pretty(pin));
    return { status: "unchanged", record: latest, pinned: pin ?? pinned };
  }
  if (pinned && !req.ignorePin) {
    throw new ConflictError(
      `environment is pinned at version ${pinned.version} by ${pinned.by} (${pinned.reason}); ` +
        "run `limitr unpin` first, or push with --force",
    );
  }
  if (latest?.signature && !req.sign) {
    // Loaders that trust the environment's key would reject an unsigned successor.
    throw new ConflictError(
      `version ${latestVersion} is signed (key ${latest.signature.keyId}); sign this one too with --sign-key FILE or LIMITR_SIGN_KEY`,
    );
  }
  const manifest = req.manifest(latest?.manifest ?? null);
  const blob = blobPath(req.digest);
  writeAtomic(join(envDir, blob), req.policyJson);
  const record: BundleRecord = {
    formatVersion: 1,
    manifest,
    signature: req.sign ? req.sign(manifest) : null,
    blob,
  };
  try {
    createExclusive(join(envDir, "versions", `${manifest.version}.json`), pretty(record));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    throw new ConflictError(`version ${manifest.version} was published concurrently in ${envDir}; retry`);
  }
  writeAtomic(join(envDir, "current.json"), pretty(record));
  const pin = pinFor(manifest.version);
  if (pin) writeAtomic(join(envDir, "pinned.json"), pretty(pin));
  else if (pinned) {
    // A forced push supersedes the rollback it overrides; leaving the pin would force every later push too.
    rmSync(join(envDir, "pinned.json"), { force: true });
    return { status: "published", record, pinned: null, unpinned: pinned };
  }
  return { status: "published", record, pinned: pin ?? null };
}

/** Remove the pin; returns the pin that was removed, or null when the environment was not pinned. */
export async function unpin(envDir: string): Promise<PinRecord | null> {
  if (!existsSync(envDir)) return null;
  return withLock(join(envDir, ".lock"), async () => {
    const pin = await readPin(directoryReader(envDir));
    if (pin) rmSync(join(envDir, "pinned.json"), { force: true });
    return pin;
  });
}
