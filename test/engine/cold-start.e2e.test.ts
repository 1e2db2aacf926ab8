import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REPO } from "../cli/run-cli.js";

/**
 * What a fresh process loads: the built engine and CLI (`npx tsc -b src/engine src/cli`)
 * load a driver, a client library or the JSON Schema compiler only when they are used.
 * A preload lists every CommonJS module in the process when it exits, and the
 * build's bundle of the validation modules (validator-kit.cjs, which holds the
 * YAML parser and the schema validator's helpers; run with its code cache, it
 * is no CommonJS module) as "validator-kit/" when the process read it. Each
 * process gets the validation cache directory it is given (a fresh one per case).
 */
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "limitr-cold-start-"));
const preload = join(dir, "list-modules.cjs");
writeFileSync(
  preload,
  `const fs = require("node:fs");
const read = fs.readFileSync;
const bundles = [];
fs.readFileSync = function (file, ...rest) {
  if (String(file).endsWith("/validator-kit.cjs")) bundles.push("/node_modules/validator-kit/");
  return read.call(this, file, ...rest);
};
process.on("exit", () => process.stderr.write("MODULES " + JSON.stringify([...Object.keys(require("node:module")._cache), ...bundles]) + "\\n"));\n`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let caches = 0;
/** A fresh, empty validation cache directory. */
const freshCache = () => join(dir, `cache-${++caches}`);

async function loaded(
  args: string[],
  cache: string = freshCache(),
): Promise<{ stdout: string; packages: Set<string> }> {
  const env = { ...process.env, LIMITR_CACHE_DIR: cache };
  const { stdout, stderr } = await run(process.execPath, ["--require", preload, ...args], { cwd: REPO, env });
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
/** What validating a policy loads: the YAML parser and the runtime helpers of the generated schema validator, or the build's bundle of them. */
const VALIDATOR = ["yaml/", "ajv/", "validator-kit/"];
/** The YAML parser, as a package or inside the bundle. */
const YAML = ["yaml/", "validator-kit/"];
const none = (packages: Set<string>, prefixes: string[]) =>
  [...packages].filter((p) => prefixes.some((prefix) => p.startsWith(prefix)));

describe("cold start", () => {
  it("Limitr.open on a policy directory with the memory store loads no driver, client or schema compiler", async () => {
    const engine = join(REPO, "src/engine/dist/index.js");
    const script = `const { Limitr } = await import(${JSON.stringify(engine)});
      const l = await Limitr.open({ policy: "policies", store: "memory" });
      console.log(Object.keys(l.activePolicy().policy.plans).length > 0 ? "opened" : "no plans");
      await l.close();`;
    const { stdout, packages } = await loaded(["--input-type=module", "-e", script]);
    expect(stdout.trim()).toBe("opened");
    expect(none(packages, YAML)).not.toEqual([]);
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
    expect(none(version.packages, YAML)).toEqual([]);
    for (const { packages } of [validate, version]) {
      for (const heavy of [...HEAVY, ...AJV_COMPILER]) {
        expect(
          [...packages].filter((p) => p.startsWith(heavy)),
          heavy,
        ).toEqual([]);
      }
    }
  });

  it("a policy validated before is read from the validation cache: no YAML parser, no schema validator", async () => {
    const cache = freshCache();
    const engine = join(REPO, "src/engine/dist/index.js");
    const open = `const { Limitr } = await import(${JSON.stringify(engine)});
      const l = await Limitr.open({ policy: "policies", store: "memory" });
      console.log(Object.keys(l.activePolicy().policy.plans).join(","));
      await l.close();`;
    const validate = [BIN, "validate", "--policies", "policies"];
    const first = await loaded(validate, cache);
    expect(none(first.packages, YAML)).not.toEqual([]);
    const again = await loaded(validate, cache);
    expect(again.stdout).toBe(first.stdout);
    expect(none(again.packages, VALIDATOR)).toEqual([]);
    // Limitr.open on the same files (same paths as shown) finds the same entry.
    const opened = await loaded(["--input-type=module", "-e", open], cache);
    expect(opened.stdout.trim().split(",")).toEqual(expect.arrayContaining(["free", "pro"]));
    expect(none(opened.packages, [...VALIDATOR, ...HEAVY, ...AJV_COMPILER])).toEqual([]);
    const uncached = await loaded(["--input-type=module", "-e", open], "off");
    expect(uncached.stdout).toBe(opened.stdout);
    expect(none(uncached.packages, YAML)).not.toEqual([]);
  });

  it("validating and opening a policy whose alert conditions are simple comparisons loads no CEL interpreter", async () => {
    const CEL = ["@marcbachmann/cel-js/"];
    const engine = join(REPO, "src/engine/dist/index.js");
    const open = (policy: string) => `const { Limitr } = await import(${JSON.stringify(engine)});
      const l = await Limitr.open({ policy: ${JSON.stringify(policy)}, store: "memory" });
      console.log(Object.keys(l.activePolicy().policy.alerts).length);
      await l.close();`;
    const example = await loaded([BIN, "validate", "--policies", "policies"], "off");
    expect(example.stdout).toMatch(/4 alerts/);
    expect(none(example.packages, CEL)).toEqual([]);
    const opened = await loaded(["--input-type=module", "-e", open(join(REPO, "policies"))], "off");
    expect(opened.stdout.trim()).toBe("4");
    expect(none(opened.packages, CEL)).toEqual([]);
    // A condition CEL alone can check (a function call) loads it, and is checked by it.
    const other = join(dir, "policies-cel");
    cpSync(join(REPO, "policies"), other, { recursive: true });
    const alerts = join(other, "alerts.yaml");
    writeFileSync(
      alerts,
      readFileSync(alerts, "utf8").replace("spend > 1000 &&", "spend > 1000 && customer.startsWith('c') &&"),
    );
    const celPolicy = await loaded([BIN, "validate", "--policies", other], "off");
    expect(celPolicy.stdout).toMatch(/is valid/);
    expect(none(celPolicy.packages, CEL)).not.toEqual([]);
  });
});
