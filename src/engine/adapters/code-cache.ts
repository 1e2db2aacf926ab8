import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import vm from "node:vm";

/**
 * A build-time bundle run with V8's code cache: one CommonJS file made by
 * `scripts/bundle-cold-start.mjs` from modules of ours and their dependencies
 * that a first run (no validation cache) loads, beside the bytecode V8 made of
 * it in a representative run at build time. Loading it costs a file read and a
 * deserialisation instead of Node's module loader resolving, reading and
 * compiling dozens of modules, then V8 compiling each function on its first
 * call. It holds code only, never a result: the cache never skips any work of
 * the validation itself.
 *
 * Beside `NAME.cjs`: `NAME.json` lists the modules the bundle shares with the
 * rest of the package (`externals`, loaded by Node as usual before the bundle
 * runs, so that every class and every module state stays one; the modules it
 * imports only on use go through `__import`, which the build puts in place of
 * their `import()`), and `NAME.v8cache` holds the bytecode. V8 rejects bytecode made by another V8
 * version or with other V8 flags; the bundle then compiles as any script
 * would (`cachedDataRejected`). Without the bundle (running from the
 * TypeScript sources, or a build that skipped it), or when one of the modules
 * it holds is newer than it (rebuilt by `tsc -b` alone), callers import the
 * modules as usual.
 */
export interface CodeCacheBundle {
  /** The bundle's exports. */
  exports: Record<string, unknown>;
  /** The script, for `createCachedData()` after a representative run (the build does this). */
  script: vm.Script;
  /** V8 refused the stored bytecode (another Node version or flags): compiled from the source instead. */
  cacheRejected: boolean;
}

interface BundleManifest {
  externals: string[];
  /** Our modules inside the bundle, relative to it. */
  inputs: string[];
}

export interface CodeCacheOptions {
  /** Compile from the source, ignoring the stored bytecode (how the build makes it). Default true. */
  useCache?: boolean;
  /**
   * How a module outside the bundle is imported, given as the bundle names it
   * (default: relative to the bundle). A caller whose bundle names packages
   * passes `(id) => import(id)` from its own module, so they resolve as its
   * own imports do.
   */
  load?: (id: string) => Promise<unknown>;
}

/**
 * Run the bundle `NAME.cjs` at `base` (a file URL of its directory, ending in
 * `/`) with its code cache, or null when there is no bundle there.
 */
export async function runCodeCacheBundle(
  base: URL,
  name: string,
  options: CodeCacheOptions = {},
): Promise<CodeCacheBundle | null> {
  const useCache = options.useCache ?? true;
  const load = options.load ?? ((id: string) => import(new URL(id, base).href));
  const file = new URL(`${name}.cjs`, base);
  const manifestFile = new URL(`${name}.json`, base);
  if (!existsSync(file) || !existsSync(manifestFile)) return null;
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as BundleManifest;
  // A module rebuilt since the bundle was made (`tsc -b` without `npm run build`): the bundle is stale.
  const built = statSync(file).mtimeMs;
  for (const input of manifest.inputs) {
    const st = statSync(new URL(input, base), { throwIfNoEntry: false });
    if (!st || st.mtimeMs > built) return null;
  }
  const shared = new Map<string, unknown>();
  await Promise.all(
    manifest.externals.map(async (id) => {
      shared.set(id, await load(id));
    }),
  );
  const builtin = createRequire(file);
  const require = (id: string): unknown => {
    if (isBuiltin(id)) return builtin(id);
    if (!shared.has(id)) throw new Error(`${name}.cjs requires ${id}, which its manifest does not list`);
    return shared.get(id);
  };
  const cacheFile = new URL(`${name}.v8cache`, base);
  let cachedData: Buffer | undefined;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
  }
  const source = readFileSync(file, "utf8");
  // The same wrapper at build and at run time: V8 checks the source's length against the cache's.
  const script = new vm.Script(`(function (exports, require, module, __import) {${source}\n})`, {
    filename: file.pathname,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (e: unknown, r: unknown, m: unknown, i: unknown) => void)(
    module.exports,
    require,
    module,
    load,
  );
  return {
    exports: module.exports,
    script,
    cacheRejected: cachedData !== undefined && script.cachedDataRejected === true,
  };
}
