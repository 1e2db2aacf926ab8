import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * CLI tests run the built binary (`node src/cli/bin/limitr.js`), so build both
 * workspaces once before any suite. A type error elsewhere still emits
 * JavaScript; the suites that need a working command find out when they run it.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync(
      process.execPath,
      [
        fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)),
        "-b",
        "src/engine",
        "src/cli",
      ],
      { cwd: root, stdio: "pipe" },
    );
    execFileSync(process.execPath, ["scripts/cli-assets.mjs"], { cwd: root, stdio: "pipe" });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? "");
    process.stderr.write(`tsc reported problems (building anyway):\n${out.slice(0, 4000)}\n`);
  }
  if (!existsSync(`${root}/src/cli/dist/main.js`))
    throw new Error("the build produced no src/cli/dist/main.js");
}
