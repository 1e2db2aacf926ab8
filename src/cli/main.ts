import { limitrVersion } from "limitr-engine/adapters/version";

// The binary: the only place that reads the real process and sets its exit code.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // The same line commander prints, without loading the program and every command's flags.
  process.stdout.write(`${limitrVersion()}\n`);
} else {
  const { defaultContext } = await import("./context.js");
  const { report, runCli } = await import("./program.js");
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
