import { loadTrustedKeys, nodeBundleCrypto } from "limitr-engine/adapters/bundles/crypto";
import type { BundleManifest, BundleRecord } from "limitr-engine/core/bundles/manifest";
import { fetchBundle, readCurrent, readPin, readVersion } from "limitr-engine/core/bundles/port";
import { verifyBundle } from "limitr-engine/core/bundles/verify";
import { type EnvironmentFlags, openEnvironment } from "../adapters/bundles/environment.js";
import { readerFor } from "../adapters/bundles/location.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { type HistoryEntry, type HistoryView, historyView, renderHistory } from "../render/bundles.js";

interface HistoryOptions extends EnvironmentFlags {
  verify?: boolean;
  publicKey?: string[];
  format?: string;
}

/**
 * The versions of an environment, newest first, from a directory or over
 * HTTP. With --verify every version is checked as a loader would (digest,
 * signature with --public-key, lineage and version order): exit 5 when any fails.
 */
export async function run(raw: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const options = raw as unknown as HistoryOptions;
  const target = await openEnvironment(options, ctx.cwd, false);
  const reader = readerFor(target.location);
  const keys = loadTrustedKeys(options.publicKey ?? [], ctx.cwd);
  const verify = options.verify === true || keys.length > 0;
  const current = await readCurrent(reader);
  const pinned = await readPin(reader);

  const entries: HistoryEntry[] = [];
  let previous: BundleManifest | null = null;
  for (const n of await reader.listVersions()) {
    const record = await readVersion(reader, n);
    if (!record) {
      entries.push({
        version: n,
        record: null,
        verified: verify ? { ok: false, message: "record missing" } : null,
      });
      continue;
    }
    entries.push({ version: n, record, verified: verify ? await check(record) : null });
    previous = record.manifest;
  }

  async function check(record: BundleRecord) {
    try {
      const r = verifyBundle(await fetchBundle(reader, record), {
        crypto: nodeBundleCrypto,
        publicKeys: keys,
        current: previous,
      });
      return r.ok ? { ok: true, message: "ok" } : { ok: false, message: `${r.reason}: ${r.message}` };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  }

  const failed = entries.some((e) => e.verified && !e.verified.ok);
  const history: HistoryView = {
    env: target.env,
    store: reader.location,
    current: current?.manifest ?? null,
    pinned,
    entries: entries.reverse(),
  };
  const format = options.format ?? "text";
  const output = renderHistory(history, format, ctx.color);
  const view = format === "text" ? historyView(history, ctx.color) : undefined;
  return { output, exitCode: failed ? 5 : 0, ...(view ? { view } : {}) };
}
