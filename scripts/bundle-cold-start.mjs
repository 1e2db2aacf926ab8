// Part of `npm run build`, after tsc: three bundles, each one CommonJS file run
// with the bytecode V8 made of it in a representative run at build time
// (NAME.v8cache beside it); src/engine/adapters/code-cache.ts runs them. See
// docs/performance.md, "Cold start".
//
// - src/engine/dist/validator-kit.cjs: what validating a policy loads (on a
//   validation cache miss) beyond the module that loads it (adapters/policy-cache):
//   the validation modules, the compiler, and the packages they use (yaml, the
//   schema validator's runtime helpers, decimal.js, luxon). The modules
//   policy-cache imports itself (the error classes among them) stay outside,
//   listed in validator-kit.json and loaded by Node as usual, so that an error
//   thrown inside is the class the caller checks; so does a module that needs
//   its own URL (import.meta: the CEL loader). Inside, the modules are copies
//   of the engine's; what crosses is plain data (diagnostics, stats and the
//   compiled policy, which the validation cache stores as JSON), so a process
//   that also imported the engine's entry (Limitr.open) holds a second copy of
//   the compiler, decimal.js and luxon, never a second class of anything passed.
// - src/engine/dist/compiled-kit.cjs: what checking a compiled policy (a bundle
//   or bundle file given to Limitr.open, a bundle store's versions) loads
//   beyond the engine's entry: the generated schema validator and the semantic
//   rules. Every module the entry imports stays outside, so the checker shares
//   the engine's decimal.js, luxon and model; what it returns is a list of strings.
// - src/cli/dist/cli-kit.cjs: the CLI's program and context (commander, chalk,
//   the command registry, the terminal renderer). The engine stays outside
//   (imported by name), and so does every command, imported on use as now.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "src/engine/dist");
const NAME = "validator-kit";
const COMPILED = "compiled-kit";

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

/**
 * Bundle `entry` (a module of the engine's dist) as NAME.cjs beside it, with
 * the modules and packages reachable from `sharedEntry` left outside (see the
 * header): a process running the bundle has loaded those already, or loads
 * them as usual.
 */
async function bundleKit(name, entry, sharedEntry) {
  const shared = await staticGraph(join(dist, sharedEntry));
  const externals = new Set();
  const bundled = new Set();
  const result = await build({
    entryPoints: [join(dist, entry)],
    outfile: join(dist, `${name}.cjs`),
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    // Without comments the bundle is ASCII (see asciiOnly) and 40 % smaller: less to read and scan.
    minifyWhitespace: true,
    metafile: true,
    absWorkingDir: root,
    logLevel: "error",
    plugins: [
      {
        name: "shared-modules",
        setup(b) {
          b.onResolve({ filter: /^\./ }, (args) => {
            const file = resolve(args.resolveDir, args.path);
            if (!shared.files.has(file) && !readFileSync(file, "utf8").includes("import.meta"))
              return undefined;
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
  if (result.warnings.length > 0) throw new Error(`bundling ${name}: ${result.warnings[0].text}`);
  const twice = [...bundled].filter((p) => shared.packages.has(p));
  // A package both in the bundle and imported by the shared modules would be two instances of it in every process.
  if (twice.length > 0) throw new Error(`${name} would bundle ${twice.join(", ")}, which its loader imports`);
  asciiOnly(name, readFileSync(join(dist, `${name}.cjs`), "utf8"));
  writeFileSync(
    join(dist, `${name}.json`),
    `${JSON.stringify({ externals: [...externals].sort(), inputs: ownInputs(result.metafile, dist) }, null, 2)}\n`,
  );
}

/**
 * A bundle must be ASCII: Node reads a file with one other character in it as
 * two-byte text, decoding every byte (about 13 ms for the validator bundle on
 * the 2-core machine, against under 1 ms for the same length of ASCII), and V8
 * scans it slower. esbuild escapes such characters in strings and regular
 * expressions; comments, which keep them, are left out (minifyWhitespace).
 */
function asciiOnly(name, text) {
  for (let at = 0; at < text.length; at++)
    if (text.charCodeAt(at) > 0x7f)
      throw new Error(
        `${name}: a character outside ASCII at ${at}: ${JSON.stringify(text.slice(at - 40, at + 40))}`,
      );
}

/**
 * Our modules in a bundle, relative to it: the loader ignores the bundle when
 * one of them is newer (a module rebuilt by `tsc -b` alone), and uses the modules.
 */
const ownInputs = (metafile, dir) =>
  Object.keys(metafile.inputs)
    .filter((f) => !f.includes("node_modules/") && !f.includes("<"))
    .map((f) => relative(dir, resolve(root, f)))
    .sort();

/**
 * Run the validator bundle once on the example policy and store the bytecode V8
 * compiled, lazily compiled functions included; returns the compiled policy.
 */
async function produceCodeCache() {
  const cacheFile = join(dist, `${NAME}.v8cache`);
  rmSync(cacheFile, { force: true });
  const { runCodeCacheBundle } = await import(pathToFileURL(join(dist, "adapters/code-cache.js")).href);
  const { readPolicyFiles } = await import(pathToFileURL(join(dist, "adapters/policy-files.js")).href);
  const kit = await runCodeCacheBundle(pathToFileURL(`${dist}/`), NAME, { useCache: false });
  const files = readPolicyFiles("policies", root);
  const result = kit.exports.validatePolicyFiles(files, { root: "policies" });
  if (!result.policy) throw new Error(`${NAME}: the example policy did not validate`);
  // The same files with a mistake: the paths that report problems are compiled too.
  const text = (f) => (typeof f.text === "string" ? f.text : new TextDecoder().decode(f.text));
  const broken = files.map((f) => ({ ...f, text: text(f).replace(/\bunit: /, "unti: ") }));
  kit.exports.validatePolicyFiles(broken, { root: "policies" });
  writeFileSync(cacheFile, kit.script.createCachedData());
  return result.policy;
}

/**
 * Run the compiled-policy checker's bundle on the example policy as a bundle
 * carries it (JSON), then on a broken copy, and store the bytecode.
 */
async function produceCompiledCodeCache(policy) {
  const cacheFile = join(dist, `${COMPILED}.v8cache`);
  rmSync(cacheFile, { force: true });
  const { runCodeCacheBundle } = await import(pathToFileURL(join(dist, "adapters/code-cache.js")).href);
  const kit = await runCodeCacheBundle(pathToFileURL(`${dist}/`), COMPILED, { useCache: false });
  const json = JSON.parse(JSON.stringify(policy));
  const problems = kit.exports.validateCompiledPolicy(json);
  if (problems.length > 0) throw new Error(`${COMPILED}: the example policy has problems: ${problems[0]}`);
  const broken = JSON.parse(JSON.stringify(policy));
  broken.timezone = "Mars/Olympus";
  if (kit.exports.validateCompiledPolicy(broken).length === 0)
    throw new Error(`${COMPILED}: a broken policy passed`);
  writeFileSync(cacheFile, kit.script.createCachedData());
}

const cliDist = join(root, "src/cli/dist");
const CLI = "cli-kit";

async function bundleCli() {
  const externals = new Set();
  const onUse = new Set();
  const result = await build({
    stdin: {
      contents:
        'export { defaultContext } from "./context.js";\nexport { report, runCli } from "./program.js";\n',
      resolveDir: cliDist,
      sourcefile: "<cli-kit>",
    },
    outfile: join(cliDist, `${CLI}.cjs`),
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    minifyWhitespace: true,
    write: false,
    metafile: true,
    absWorkingDir: root,
    logLevel: "error",
    plugins: [
      {
        name: "engine-and-commands-outside",
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (args.path.startsWith("node:")) return undefined;
            if (args.path.startsWith("limitr-engine")) {
              if (args.kind === "dynamic-import") throw new Error(`${CLI}: import() of ${args.path}`);
              externals.add(args.path);
              return { path: args.path, external: true };
            }
            if (args.kind !== "dynamic-import") return undefined;
            if (!args.path.startsWith(".")) throw new Error(`${CLI}: import() of the package ${args.path}`);
            const id = `./${relative(cliDist, resolve(args.resolveDir, args.path))}`;
            onUse.add(id);
            return { path: id, external: true };
          });
        },
      },
    ],
  });
  if (result.warnings.length > 0) throw new Error(`bundling ${CLI}: ${result.warnings[0].text}`);
  let code = result.outputFiles[0].text;
  // Modules imported on use: through the loader's __import (a script run by vm has no import()).
  for (const id of onUse) {
    const call = `import(${JSON.stringify(id)})`;
    const parts = code.split(call);
    if (parts.length < 2) throw new Error(`${CLI}: ${call} not found in the bundle`);
    code = parts.join(`__import(${JSON.stringify(id)})`);
  }
  const left = code.match(/\bimport\(/g);
  if (left) throw new Error(`${CLI}: ${left.length} import() left in the bundle`);
  asciiOnly(CLI, code);
  writeFileSync(join(cliDist, `${CLI}.cjs`), code);
  writeFileSync(
    join(cliDist, `${CLI}.json`),
    `${JSON.stringify({ externals: [...externals].sort(), inputs: ownInputs(result.metafile, cliDist) }, null, 2)}\n`,
  );
}

/** Run `limitr validate` on the example policy (text and JSON) through the bundle and store the bytecode. */
async function produceCliCodeCache() {
  const cacheFile = join(cliDist, `${CLI}.v8cache`);
  rmSync(cacheFile, { force: true });
  const { runCodeCacheBundle } = await import(pathToFileURL(join(dist, "adapters/code-cache.js")).href);
  const base = pathToFileURL(`${cliDist}/`);
  const engine = (id) => pathToFileURL(join(dist, `${id.slice("limitr-engine/".length)}.js`)).href;
  const load = (id) => import(id.startsWith(".") ? new URL(id, base).href : engine(id));
  const cli = await runCodeCacheBundle(base, CLI, { useCache: false, load });
  let out = "";
  const ctx = {
    ...cli.exports.defaultContext(),
    cwd: root,
    env: { ...process.env, LIMITR_CACHE_DIR: "off", NO_COLOR: "1" },
    isTTY: false,
    stdout: { write: (s) => (out += s) },
    warn: (line) => process.stderr.write(`${line}\n`),
  };
  for (const format of ["text", "json"]) {
    const code = await cli.exports.runCli(["validate", "--policies", "policies", "--format", format], ctx);
    if (code !== 0) throw new Error(`${CLI}: limitr validate exited ${code}`);
  }
  if (!out.includes("is valid")) throw new Error(`${CLI}: limitr validate printed ${out.slice(0, 200)}`);
  writeFileSync(cacheFile, cli.script.createCachedData());
}

// What validating a policy's YAML loads, beside the modules policy-cache imports.
await bundleKit(NAME, "core/policy/validate.js", "adapters/policy-cache.js");
const example = await produceCodeCache();
// What checking a compiled policy (a bundle) loads, beside the engine's entry: Limitr.open has loaded that.
await bundleKit(COMPILED, "core/bundles/validate-compiled.js", "index.js");
await produceCompiledCodeCache(example);
await bundleCli();
await produceCliCodeCache();
const size = (dir, f) => readFileSync(join(dir, f)).length;
for (const [dir, name] of [
  [dist, NAME],
  [dist, COMPILED],
  [cliDist, CLI],
]) {
  const kib = (f) => Math.round(size(dir, f) / 1024);
  process.stdout.write(`${name}: ${kib(`${name}.cjs`)} KiB, code cache ${kib(`${name}.v8cache`)} KiB\n`);
}
