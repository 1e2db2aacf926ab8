import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readPolicyFiles } from "../../src/engine/adapters/policy-files.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { BIN, REPO } from "../cli/run-cli.js";

/**
 * The build's bundles run with V8's code cache (scripts/bundle-cold-start.mjs,
 * `npm run build`): the validator bundle must validate exactly as the
 * validation modules do, and a process whose V8 refuses the stored bytecode
 * must run the same.
 */
const run = promisify(execFile);
const engineDist = join(REPO, "src/engine/dist");
const INVALID = join(REPO, "fixtures/invalid");

/** Every policy directory of fixtures/invalid, and the example. */
const policies = [
  join(REPO, "policies"),
  ...readdirSync(INVALID, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) =>
      existsSync(join(INVALID, d.name, "policies"))
        ? join(INVALID, d.name, "policies")
        : join(INVALID, d.name),
    ),
];

describe("code cache bundles", () => {
  it("the validator bundle gives the validation modules' result for the example and every invalid fixture", async () => {
    const { runCodeCacheBundle } = await import(
      pathToFileURL(join(engineDist, "adapters/code-cache.js")).href
    );
    const kit = await runCodeCacheBundle(pathToFileURL(`${engineDist}/`), "validator-kit");
    expect(kit, "npm run build makes src/engine/dist/validator-kit.cjs").not.toBeNull();
    const bundled = kit.exports.validatePolicyFiles as typeof validatePolicyFiles;
    for (const dir of policies) {
      const files = readPolicyFiles(dir, REPO);
      expect(bundled(files, { root: dir }), dir).toEqual(validatePolicyFiles(files, { root: dir }));
    }
  });

  it("the stored bytecode is accepted by the Node.js that built it", async () => {
    const script = `const { runCodeCacheBundle } = await import(${JSON.stringify(pathToFileURL(join(engineDist, "adapters/code-cache.js")).href)});
      const kit = await runCodeCacheBundle(new URL(${JSON.stringify(pathToFileURL(`${engineDist}/`).href)}), "validator-kit");
      const cli = await runCodeCacheBundle(new URL(${JSON.stringify(pathToFileURL(join(REPO, "src/cli/dist/")).href)}), "cli-kit", { load: (id) => import(id.startsWith(".") ? id : import.meta.resolve(id)) });
      console.log(JSON.stringify([kit.cacheRejected, cli.cacheRejected]));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: join(REPO, "src/cli"),
    });
    expect(JSON.parse(stdout)).toEqual([false, false]);
  });

  it("limitr validate prints the same when V8 refuses the bytecode (other V8 flags)", async () => {
    const env = { ...process.env, LIMITR_CACHE_DIR: "off", NO_COLOR: "1" };
    for (const dir of [join(REPO, "policies"), join(INVALID, "bad-type")]) {
      const args = [BIN, "validate", "--policies", dir, "--format", "json"];
      const cached = await run(process.execPath, args, { cwd: REPO, env }).catch((e) => e);
      // --stack-size changes V8's flag hash: the stored bytecode is rejected and the bundles compile from source.
      const rejected = await run(process.execPath, ["--stack-size=900", ...args], { cwd: REPO, env }).catch(
        (e) => e,
      );
      expect(rejected.stdout, dir).toBe(cached.stdout);
      expect(rejected.stderr, dir).toBe(cached.stderr);
      expect(rejected.code, dir).toBe(cached.code);
    }
  });
});
