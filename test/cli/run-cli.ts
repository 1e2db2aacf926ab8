import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../src/cli/bin/limitr.js", import.meta.url));

/** Run the built CLI the way a user does; colour off, never throws on a non-zero exit. */
export async function limitr(args: string[], cwd: string = REPO) {
  const r = await execa(process.execPath, [BIN, ...args], {
    cwd,
    reject: false,
    env: { NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
