import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REPO } from "../cli/run-cli.js";

/**
 * What a fresh process loads: the built engine and CLI (`npx tsc -b src/engine src/cli`)
 * load a driver, a client library or the JSON Schema compiler only when they are used.
 * A preload lists every CommonJS module in the process when it exits.
 */
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "limitr-cold-start-"));
const preload = join(dir, "list-modules.cjs");
writeFileSync(
  preload,
  `process.on("exit", () => process.stderr.write("MODULES " + JSON.stringify(Object.keys(require("node:module")._cache)) + "\\n"));\n`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loaded(args: string[]): Promise<{ stdout: string; packages: Set<string> }> {
  const { stdout, stderr } = await run(process.execPath, ["--require", preload, ...args], { cwd: REPO });
  const line = stderr.split("\n").find((l) => l.startsWith("MODULES "));
  const files = JSON.parse(line?.slice("MODULES ".length) ?? "[]") as string[];
  const packages = new Set(
    files
      .map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+\/(?:dist\/[^/]+)?)/.exec(f)?.[1] ?? "")
      .filter(Boolean),
  );
  return { stdout, packages };
}

const HEAVY = ["ioredis/", "better-sqlite3/", "pg/", "stripe/", "fastify/", "nodemailer/", "ink/", "react/"];
const AJV_COMPILER = ["ajv/dist/core.js", "ajv/dist/compile", "ajv/dist/2020.js"];

describe("cold start", () => {
  it("Limitr.open on a policy directory with the memory store loads no driver, client or schema compiler", async () => {
    const engine = join(REPO, "src/engine/dist/index.js");
    const script = `const { Limitr } = await import(${JSON.stringify(engine)});
      const l = await Limitr.open({ policy: "policies", store: "memory" });
      console.log(Object.keys(l.activePolicy().policy.plans).length > 0 ? "opened" : "no plans");
      await l.close();`;
    const { stdout, packages } = await loaded(["--input-type=module", "-e", script]);
    expect(stdout.trim()).toBe("opened");
    expect([...packages].some((p) => p.startsWith("yaml/dist/"))).toBe(true);
    for (const heavy of [...HEAVY, ...AJV_COMPILER]) {
      expect(
        [...packages].filter((p) => p.startsWith(heavy)),
        heavy,
      ).toEqual([]);
    }
  });

  it("limitr validate and limitr --version load neither the schema compiler nor any command's libraries", async () => {
    const validate = await loaded([BIN, "validate", "--policies", "policies"]);
    expect(validate.stdout).toMatch(/policies\/ is valid/);
    const version = await loaded([BIN, "--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect([...version.packages].filter((p) => p.startsWith("yaml/"))).toEqual([]);
    for (const { packages } of [validate, version]) {
      for (const heavy of [...HEAVY, ...AJV_COMPILER]) {
        expect(
          [...packages].filter((p) => p.startsWith(heavy)),
          heavy,
        ).toEqual([]);
      }
    }
  });
});
