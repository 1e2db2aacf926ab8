import { defaultContext } from "./context.js";
import { report, runCli } from "./program.js";

// The binary: the only place that reads the real process and sets its exit code.
const ctx = defaultContext();
runCli(process.argv.slice(2), ctx).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.exitCode = report(err, ctx);
  },
);
