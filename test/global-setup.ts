import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The validation cache of every test process and every command they run is
 * one fresh directory per test run (not the user's ~/.cache), removed at the end.
 */
function isolateValidationCache(): () => void {
  if (process.env.LIMITR_CACHE_DIR !== undefined) return () => {};
  const dir = mkdtempSync(join(tmpdir(), "limitr-test-cache-"));
  process.env.LIMITR_CACHE_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}

/**
 * CLI tests run the built binary (`node src/cli/bin/limitr.js`), so build both
 * workspaces (and the bundles run with a code cache) once before any suite. A type error elsewhere still emits
 * JavaScript; the suites that need a working command find out when they run it.
 */
export default function setup(): () => void {
  const teardown = isolateValidationCache();
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
    // The bundles with their code cache, as `npm run build` makes them (a stale one would be ignored, not wrong).
    execFileSync(process.execPath, ["scripts/bundle-cold-start.mjs"], { cwd: root, stdio: "pipe" });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? "");
    process.stderr.write(`tsc reported problems (building anyway):\n${out.slice(0, 4000)}\n`);
  }
  if (!existsSync(`${root}/src/cli/dist/main.js`))
    throw new Error("the build produced no src/cli/dist/main.js");
  return teardown;
}
