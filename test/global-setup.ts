import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * CLI tests run the built binary (`node bin/limitr.js`), so build once before
 * any suite. A type error elsewhere still emits JavaScript; the suites that
 * need a working command find out when they run it.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync(
      process.execPath,
      [
        fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)),
        "-p",
        "tsconfig.build.json",
      ],
      {
        cwd: root,
        stdio: "pipe",
      },
    );
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? "");
    process.stderr.write(`tsc reported problems (building anyway):\n${out.slice(0, 4000)}\n`);
  }
  if (!existsSync(`${root}/dist/cli/main.js`)) throw new Error("the build produced no dist/cli/main.js");
}
