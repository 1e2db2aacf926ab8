// Part of `npm run build`, after tsc: bundles what a first run of the engine
// (no validation cache) loads beyond the engine's entry into one CommonJS file,
// src/engine/dist/validator-kit.cjs, and stores the bytecode V8 makes of it in a
// representative run (validating the example policy) as validator-kit.v8cache.
// src/engine/adapters/code-cache.ts runs it; see docs/performance.md, "Cold start".
//
// The bundle holds the validation modules (core/policy/) and the packages only
// they use (yaml, the schema validator's runtime helpers). Every module of the
// engine that its entry (dist/index.js) imports statically stays outside,
// listed in validator-kit.json and loaded by Node as usual, so that a class or a
// module's state is never duplicated.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "src/engine/dist");
const NAME = "validator-kit";

/** The engine's modules reachable from `entry` by static imports (dynamic ones load on use), with the packages they import. */
async function staticGraph(entry) {
  const { metafile } = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "error",
  });
  const files = new Set();
  const packages = new Set();
  const todo = [relative(root, entry)];
  while (todo.length > 0) {
    const file = todo.pop();
    if (files.has(file)) continue;
    files.add(file);
    for (const i of metafile.inputs[file]?.imports ?? []) {
      if (i.kind !== "import-statement") continue;
      if (i.external) packages.add(packageName(i.path));
      else todo.push(i.path);
    }
  }
  return { files: new Set([...files].map((f) => resolve(root, f))), packages };
}

const packageName = (spec) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");

async function bundleValidator() {
  const shared = await staticGraph(join(dist, "index.js"));
  const externals = new Set();
  const bundled = new Set();
  const result = await build({
    entryPoints: [join(dist, "core/policy/validate.js")],
    outfile: join(dist, `${NAME}.cjs`),
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    metafile: true,
    logLevel: "error",
    plugins: [
      {
        name: "shared-modules",
        setup(b) {
          b.onResolve({ filter: /^\./ }, (args) => {
            const file = resolve(args.resolveDir, args.path);
            if (!shared.files.has(file)) return undefined;
            const id = `./${relative(dist, file)}`;
            externals.add(id);
            return { path: id, external: true };
          });
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.path.startsWith("node:")) return undefined;
            bundled.add(packageName(args.path));
            return undefined;
          });
        },
      },
    ],
  });
  if (result.warnings.length > 0) throw new Error(`bundling ${NAME}: ${result.warnings[0].text}`);
  const twice = [...bundled].filter((p) => shared.packages.has(p));
  // A package both in the bundle and imported by the engine's entry would be two instances of it.
  if (twice.length > 0)
    throw new Error(`${NAME} would bundle ${twice.join(", ")}, which the engine also imports`);
  writeFileSync(
    join(dist, `${NAME}.json`),
    `${JSON.stringify({ externals: [...externals].sort() }, null, 2)}\n`,
  );
}

/** Run the bundle once on the example policy and store the bytecode V8 compiled, lazily compiled functions included. */
async function produceCodeCache() {
  const cacheFile = join(dist, `${NAME}.v8cache`);
  rmSync(cacheFile, { force: true });
  const { runCodeCacheBundle } = await import(pathToFileURL(join(dist, "adapters/code-cache.js")).href);
  const { readPolicyFiles } = await import(pathToFileURL(join(dist, "adapters/policy-files.js")).href);
  const kit = await runCodeCacheBundle(pathToFileURL(`${dist}/`), NAME, false);
  const files = readPolicyFiles("policies", root);
  const result = kit.exports.validatePolicyFiles(files, { root: "policies" });
  if (!result.policy) throw new Error(`${NAME}: the example policy did not validate`);
  // The same files with a mistake: the paths that report problems are compiled too.
  const text = (f) => (typeof f.text === "string" ? f.text : new TextDecoder().decode(f.text));
  const broken = files.map((f) => ({ ...f, text: text(f).replace(/\bunit: /, "unti: ") }));
  kit.exports.validatePolicyFiles(broken, { root: "policies" });
  writeFileSync(cacheFile, kit.script.createCachedData());
}

await bundleValidator();
await produceCodeCache();
const size = (f) => readFileSync(join(dist, f)).length;
process.stdout.write(
  `${NAME}: ${Math.round(size(`${NAME}.cjs`) / 1024)} KiB, code cache ${Math.round(size(`${NAME}.v8cache`) / 1024)} KiB\n`,
);
