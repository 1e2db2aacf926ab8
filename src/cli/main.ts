import { limitrVersion } from "limitr-engine/adapters/version";
import type { defaultContext as DefaultContext } from "./context.js";
import type { report as Report, runCli as RunCli } from "./program.js";

interface Cli {
  defaultContext: typeof DefaultContext;
  report: typeof Report;
  runCli: typeof RunCli;
}

/**
 * The program and its context: from the build's bundle of them with its V8
 * code cache (dist/cli-kit.cjs, made by `npm run build`; docs/performance.md,
 * "Cold start") when there is one, else (the TypeScript sources) as modules.
 * The bundle holds the same modules; the engine and each command stay outside it.
 */
async function loadCli(): Promise<Cli> {
  const { runCodeCacheBundle } = await import("limitr-engine/adapters/code-cache");
  const base = new URL("./", import.meta.url);
  const bundle = await runCodeCacheBundle(base, "cli-kit", {
    // Packages resolve from here, as this package's own imports do; commands relative to the bundle.
    load: (id) => (id.startsWith(".") ? import(new URL(id, base).href) : import(id)),
  });
  if (bundle) return bundle.exports as unknown as Cli;
  const [context, program] = await Promise.all([import("./context.js"), import("./program.js")]);
  return { defaultContext: context.defaultContext, report: program.report, runCli: program.runCli };
}

// The binary: the only place that reads the real process and sets its exit code.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // The same line commander prints, without loading the program and every command's flags.
  process.stdout.write(`${limitrVersion()}\n`);
} else {
  const { defaultContext, report, runCli } = await loadCli();
  const ctx = defaultContext();
  runCli(args, ctx).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = report(err, ctx);
    },
  );
}
