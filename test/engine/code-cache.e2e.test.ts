import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readPolicyFiles } from "../../src/engine/adapters/policy-files.js";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { validateCompiledPolicy } from "../../src/engine/core/bundles/validate-compiled.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { BIN, REPO } from "../cli/run-cli.js";

/**
 * The build's bundles run with V8's code cache (scripts/bundle-cold-start.mjs,
 * `npm run build`): the validator bundle must validate exactly as the
 * validation modules do, the compiled-policy bundle must check exactly as its
 * modules do (and be what Limitr.open runs on a bundle file), and a process
 * whose V8 refuses the stored bytecode must run the same.
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

/** The exports of the engine build's bundle `name`, run as the engine runs it. */
async function kitExports(name: string): Promise<Record<string, unknown>> {
  const { runCodeCacheBundle } = await import(pathToFileURL(join(engineDist, "adapters/code-cache.js")).href);
  const kit = await runCodeCacheBundle(pathToFileURL(`${engineDist}/`), name);
  expect(kit, `npm run build makes src/engine/dist/${name}.cjs`).not.toBeNull();
  return kit.exports;
}

describe("code cache bundles", () => {
  it("the validator bundle gives the validation modules' result for the example and every invalid fixture", async () => {
    const bundled = (await kitExports("validator-kit")).validatePolicyFiles as typeof validatePolicyFiles;
    for (const dir of policies) {
      const files = readPolicyFiles(dir, REPO);
      expect(bundled(files, { root: dir }), dir).toEqual(validatePolicyFiles(files, { root: dir }));
    }
  });

  it("the compiled-policy bundle gives the checker modules' result, sound or broken", async () => {
    const bundled = (await kitExports("compiled-kit"))
      .validateCompiledPolicy as typeof validateCompiledPolicy;
    const example = JSON.parse(JSON.stringify(loadValidPolicy(join(REPO, "policies")))) as CompiledPolicy;
    const changes: ((p: CompiledPolicy) => void)[] = [
      () => {},
      (p) => (p.timezone = "Mars/Olympus"),
      (p) => (p.currency = "XYZ"),
      (p) => (p.formatVersion = 2 as 1),
      (p) => Object.assign(p, { plans: undefined }),
      (p) => Object.assign(Object.values(p.plans)[0] as object, { entitlements: { api: { limit: -1 } } }),
      (p) => Object.assign(p, { alerts: { nope: { when: "usage_percent >=" } } }),
    ];
    let broken = 0;
    for (const change of changes) {
      const p = structuredClone(example);
      change(p);
      const expected = validateCompiledPolicy(structuredClone(p));
      if (expected.length > 0) broken++;
      expect(bundled(p)).toEqual(expected);
    }
    expect(broken).toBe(changes.length - 1);
  });

  it("Limitr.open on a bundle file checks it with the compiled-policy bundle: sound opens, broken is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-compiled-kit-"));
    try {
      const policy = JSON.parse(JSON.stringify(loadValidPolicy(join(REPO, "policies")))) as CompiledPolicy;
      const sound = join(dir, "sound.json");
      const broken = join(dir, "broken.json");
      writeFileSync(sound, JSON.stringify(policy));
      writeFileSync(broken, JSON.stringify({ ...policy, timezone: "Mars/Olympus" }));
      // The engine's build, in a fresh process with the validation cache off: the checker must run.
      const script = `const { Limitr } = await import(${JSON.stringify(pathToFileURL(join(engineDist, "index.js")).href)});
        const out = [];
        for (const file of process.argv.slice(1)) {
          try { const l = await Limitr.open({ policy: file, store: "memory" }); out.push(Object.keys(l.activePolicy().policy.plans).length); await l.close(); }
          catch (e) { out.push(e.name + ": " + e.message); }
        }
        console.log(JSON.stringify(out));`;
      // Reports how often the process read the bundle (fs is patched before any module imports it).
      const preload = join(dir, "bundle-reads.cjs");
      writeFileSync(
        preload,
        `const fs = require("node:fs"); const read = fs.readFileSync; let n = 0;
fs.readFileSync = function (file, ...rest) { if (String(file).endsWith("/compiled-kit.cjs")) n++; return read.call(this, file, ...rest); };
process.on("exit", () => process.stderr.write("KIT READS " + n + "\\n"));\n`,
      );
      const env = { ...process.env, LIMITR_CACHE_DIR: "off" };
      const args = ["--require", preload, "--input-type=module", "-e", script, sound, broken];
      const { stdout, stderr } = await run(process.execPath, args, { env });
      expect(stderr).toContain("KIT READS 1\n");
      const [plans, refused] = JSON.parse(stdout) as [number, string];
      expect(plans).toBe(Object.keys(policy.plans).length);
      expect(refused).toMatch(
        /^PolicyError: .*broken\.json is not a valid policy:\n {2}timezone Mars\/Olympus is not an IANA zone/,
      );

      // With a validation cache: the verdict on the sound policy is stored, and a second process
      // takes it without loading the checker, until the checker's bundle is rebuilt (its key).
      const cached = { ...process.env, LIMITR_CACHE_DIR: join(dir, "cache") };
      const reads = async () => {
        const r = await run(
          process.execPath,
          ["--require", preload, "--input-type=module", "-e", script, sound],
          {
            env: cached,
          },
        );
        expect(JSON.parse(r.stdout)).toEqual([plans]);
        return /KIT READS (\d+)/.exec(r.stderr)?.[1];
      };
      expect(await reads()).toBe("1");
      expect(await reads()).toBe("0");
      const kit = join(engineDist, "compiled-kit.cjs");
      const { atime, mtime } = statSync(kit);
      try {
        utimesSync(kit, atime, new Date(mtime.getTime() + 1000));
        expect(await reads()).toBe("1");
      } finally {
        utimesSync(kit, atime, mtime);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the stored bytecode is accepted by the Node.js that built it", async () => {
    const script = `const { runCodeCacheBundle } = await import(${JSON.stringify(pathToFileURL(join(engineDist, "adapters/code-cache.js")).href)});
      const base = new URL(${JSON.stringify(pathToFileURL(`${engineDist}/`).href)});
      const kit = await runCodeCacheBundle(base, "validator-kit");
      const compiled = await runCodeCacheBundle(base, "compiled-kit");
      const cli = await runCodeCacheBundle(new URL(${JSON.stringify(pathToFileURL(join(REPO, "src/cli/dist/")).href)}), "cli-kit", { load: (id) => import(id.startsWith(".") ? id : import.meta.resolve(id)) });
      console.log(JSON.stringify([kit.cacheRejected, compiled.cacheRejected, cli.cacheRejected]));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: join(REPO, "src/cli"),
    });
    expect(JSON.parse(stdout)).toEqual([false, false, false]);
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
