import { isAbsolute, join, resolve } from "node:path";
import { httpReader } from "limitr-engine/adapters/bundles/http-reader";
import { checkEnvironmentName } from "limitr-engine/core/bundles/manifest";
import type { BundleReader } from "limitr-engine/core/bundles/port";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledBundleConfig } from "limitr-engine/core/model";
import { directoryReader } from "./directory-store.js";

/** Where an environment's bundles live: a directory (writable) or an HTTP base URL (read-only). */
export type StoreLocation =
  | { kind: "dir"; root: string; envDir: string }
  | { kind: "http"; root: string; envUrl: string };

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * Resolve the store for `env`. `--store` is relative to the cwd like any
 * path on the command line; `bundles.store` from the policy is relative to
 * the repository root (else the cwd), so it means the same from any
 * subdirectory.
 */
export function resolveStore(opts: {
  flag?: string;
  config: CompiledBundleConfig | null;
  env: string;
  cwd: string;
  repoRoot: string | null;
}): StoreLocation {
  const raw = opts.flag ?? opts.config?.store ?? null;
  if (!raw) throw new UsageError("no bundle store: set `bundles.store` in the policy or pass --store DIR");
  if (isUrl(raw))
    return { kind: "http", root: raw, envUrl: `${raw.replace(/\/+$/, "")}/${encodeURIComponent(opts.env)}` };
  const base = opts.flag !== undefined ? opts.cwd : (opts.repoRoot ?? opts.cwd);
  const root = isAbsolute(raw) ? raw : resolve(base, raw);
  return { kind: "dir", root, envDir: join(root, opts.env) };
}

/** `--env`, else the first of `bundles.environments`, else `default`; checked against the configured list. */
export function resolveEnvironment(flag: string | undefined, config: CompiledBundleConfig | null): string {
  const envs = config?.environments ?? [];
  const env = flag ?? envs[0] ?? "default";
  const bad = checkEnvironmentName(env);
  if (bad) throw new UsageError(bad);
  if (flag !== undefined && envs.length > 0 && !envs.includes(flag)) {
    throw new UsageError(`environment "${flag}" is not in bundles.environments (${envs.join(", ")})`);
  }
  return env;
}

export function readerFor(loc: StoreLocation): BundleReader {
  return loc.kind === "dir" ? directoryReader(loc.envDir) : httpReader(loc.envUrl);
}

/** Publishing needs a directory: refuse a URL with the way forward. */
export function requireWritable(loc: StoreLocation, command: string): string {
  if (loc.kind === "dir") return loc.envDir;
  throw new UsageError(
    `${command} writes to a directory store; ${loc.root} is read-only over HTTP. ` +
      "Publish to a directory (--store DIR) and sync it to your static host or CDN.",
  );
}
