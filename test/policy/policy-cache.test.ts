import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { policyDigestOf } from "../../src/engine/adapters/bundles/crypto.js";
import {
  compiledPolicyProblems,
  compiledPolicyProblemsSync,
  exactInJson,
  loadValidPolicyCached,
  MAX_ENTRIES,
  pruneValidations,
  readValidation,
  validatePolicyDirCached,
  validationCacheDir,
  validationKey,
  writeValidation,
} from "../../src/engine/adapters/policy-cache.js";
import {
  loadValidPolicy,
  readPolicyFiles,
  validatePolicyDir,
} from "../../src/engine/adapters/policy-source.js";
import { validateCompiledPolicy } from "../../src/engine/core/bundles/validate-compiled.js";
import { canonicalJson } from "../../src/engine/core/compile.js";
import { PolicyError } from "../../src/engine/core/errors.js";

const scratch = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** A copy of the example policy, and an environment whose validation cache is a fresh directory. */
function setup(): { dir: string; cache: string; env: NodeJS.ProcessEnv } {
  const dir = join(scratch("limitr-cache-policy-"), "policies");
  cpSync("policies", dir, { recursive: true });
  const cache = join(scratch("limitr-cache-"), "validation");
  return { dir, cache, env: { LIMITR_CACHE_DIR: cache } };
}

const entries = (cache: string) => readdirSync(cache).filter((n) => n.endsWith(".json"));
const sameJson = (a: unknown) => JSON.parse(JSON.stringify(a));

describe("validation cache", () => {
  it("stores a directory's validation and reads it back, equal to validating afresh", async () => {
    const { dir, cache, env } = setup();
    const fresh = validatePolicyDir(dir, "/");
    const first = await validatePolicyDirCached(dir, "/", env);
    expect(entries(cache)).toHaveLength(1);
    const second = await validatePolicyDirCached(dir, "/", env);
    expect(entries(cache)).toHaveLength(1);
    expect(first).toEqual(fresh);
    expect(second).toEqual(sameJson(fresh));
    // The compiled policy read back is the same policy: same canonical JSON, hence the same digest.
    expect(canonicalJson(second.policy)).toBe(canonicalJson(fresh.policy));
  });

  it("a second process with the same files reads the entry instead of validating", async () => {
    const { dir, cache, env } = setup();
    await validatePolicyDirCached(dir, "/", env);
    const [name] = entries(cache);
    const file = join(cache, name as string);
    // Mark the stored result: only a read of the entry can return the mark.
    const entry = JSON.parse(readFileSync(file, "utf8"));
    entry.result.stats.meters = 4242;
    writeFileSync(file, JSON.stringify(entry));
    expect((await validatePolicyDirCached(dir, "/", env)).stats.meters).toBe(4242);
  });

  it("any change to a file's bytes is a different key, validated afresh", async () => {
    const { dir, cache, env } = setup();
    const before = await validatePolicyDirCached(dir, "/", env);
    expect(before.policy).toBeDefined();
    const plans = join(dir, "plans.yaml");
    writeFileSync(plans, `${readFileSync(plans, "utf8")}\n  nope: [\n`);
    const after = await validatePolicyDirCached(dir, "/", env);
    expect(after.policy).toBeUndefined();
    expect(after.diagnostics.some((d) => d.severity === "error" && d.code === "yaml/syntax")).toBe(true);
    expect(after).toEqual(sameJson(validatePolicyDir(dir, "/")));
    expect(entries(cache)).toHaveLength(2);
  });

  it("keys on the paths as shown, the size limit and the file order", () => {
    const { dir } = setup();
    const files = readPolicyFiles(dir, "/");
    const key = validationKey(files, dir, 1024);
    expect(validationKey(files, dir, 1024)).toBe(key);
    expect(validationKey(files, dir, 2048)).not.toBe(key);
    expect(validationKey(files, `${dir}/`, 1024)).not.toBe(key);
    expect(validationKey([...files].reverse(), dir, 1024)).not.toBe(key);
    const renamed = files.map((f, i) => (i === 0 ? { ...f, path: `x/${f.path}` } : f));
    expect(validationKey(renamed, dir, 1024)).not.toBe(key);
    const asText = files.map((f) => ({ ...f, text: Buffer.from(f.text).toString("utf8") }));
    expect(validationKey(asText, dir, 1024)).not.toBe(key);
  });

  it("an invalid policy's diagnostics come back from the cache, and loading it fails the same way", async () => {
    const { dir, env } = setup();
    writeFileSync(join(dir, "meters.yaml"), "meters:\n  api:\n    unit: calls\n    aggregation: median\n");
    const first = await validatePolicyDirCached(dir, "/", env);
    const second = await validatePolicyDirCached(dir, "/", env);
    expect(second.diagnostics.length).toBeGreaterThan(0);
    expect(second).toEqual(sameJson(first));
    let message = "";
    try {
      loadValidPolicy(dir);
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      message = (err as Error).message;
    }
    const saved = process.env.LIMITR_CACHE_DIR;
    process.env.LIMITR_CACHE_DIR = env.LIMITR_CACHE_DIR;
    try {
      await expect(loadValidPolicyCached(dir)).rejects.toThrow(message);
    } finally {
      process.env.LIMITR_CACHE_DIR = saved;
    }
  });

  it("an unreadable entry is a miss and is written again", async () => {
    const { dir, cache, env } = setup();
    const fresh = await validatePolicyDirCached(dir, "/", env);
    const [name] = entries(cache);
    writeFileSync(join(cache, name as string), '{"format":1,"key":');
    expect(await validatePolicyDirCached(dir, "/", env)).toEqual(fresh);
    expect(readValidation(cache, (name as string).replace(/\.json$/, ""))).toEqual(sameJson(fresh));
    // An entry stored under another key is not taken for this one.
    writeFileSync(join(cache, name as string), JSON.stringify({ format: 1, key: "other", result: fresh }));
    expect(readValidation(cache, (name as string).replace(/\.json$/, ""))).toBeNull();
  });

  it("LIMITR_CACHE_DIR=off validates without a cache; an unwritable directory only costs time", async () => {
    const { dir } = setup();
    expect(validationCacheDir({ LIMITR_CACHE_DIR: "off" })).toBeNull();
    expect(validationCacheDir({ XDG_CACHE_HOME: "/x" })).toBe("/x/limitr/validation");
    const fresh = validatePolicyDir(dir, "/");
    expect(await validatePolicyDirCached(dir, "/", { LIMITR_CACHE_DIR: "off" })).toEqual(fresh);
    const blocker = join(scratch("limitr-cache-file-"), "not-a-dir");
    writeFileSync(blocker, "a file where the cache directory would be");
    expect(await validatePolicyDirCached(dir, "/", { LIMITR_CACHE_DIR: join(blocker, "sub") })).toEqual(
      fresh,
    );
  });

  it("keeps the newest entries only", () => {
    const cache = join(scratch("limitr-cache-prune-"), "validation");
    const result = { diagnostics: [], stats: { files: 0, meters: 0, plans: 0, customers: 0, alerts: 0 } };
    // Entries a second apart (written in a loop, they could share a modification time).
    const base = Date.now() / 1000 - 1000;
    for (let i = 0; i < MAX_ENTRIES + 3; i++) {
      const name = `k${String(i).padStart(3, "0")}`;
      expect(writeValidation(cache, name, result)).toBe(true);
      utimesSync(join(cache, `${name}.json`), base + i, base + i);
    }
    expect(entries(cache)).toHaveLength(MAX_ENTRIES);
    expect(readValidation(cache, `k${String(MAX_ENTRIES + 2).padStart(3, "0")}`)).toEqual(result);
    // A byte budget too: the newest entries that fit, and always the newest one.
    const size = statSync(join(cache, "k066.json")).size;
    const kept = entries(cache).sort().slice(-3);
    expect(pruneValidations(cache, MAX_ENTRIES, size * 3)).toBe(MAX_ENTRIES - 3);
    expect(entries(cache).sort()).toEqual(kept);
    expect(pruneValidations(cache, MAX_ENTRIES, 1)).toBe(2);
    expect(entries(cache)).toEqual(["k066.json"]);
  });

  it("stores only results JSON carries exactly", () => {
    expect(exactInJson({ a: [1, "x", null, true], b: { c: 0.5 }, d: undefined })).toBe(true);
    expect(exactInJson(Object.assign(Object.create(null), { a: 1 }))).toBe(true);
    expect(exactInJson({ a: Number.POSITIVE_INFINITY })).toBe(false);
    expect(exactInJson({ a: Number.NaN })).toBe(false);
    expect(exactInJson({ a: -0 })).toBe(false);
    expect(exactInJson({ a: new Map() })).toBe(false);
    expect(exactInJson({ a: [undefined] })).toBe(false);
    expect(exactInJson({ a: 1n })).toBe(false);
    expect(exactInJson({ a: undefined }, true)).toBe(false);
    const cache = join(scratch("limitr-cache-exact-"), "validation");
    const stats = { files: 0, meters: 0, plans: 0, customers: 0, alerts: 0 };
    mkdirSync(cache, { recursive: true });
    expect(writeValidation(cache, "k", { diagnostics: [], stats: { ...stats, files: Number.NaN } })).toBe(
      false,
    );
    expect(entries(cache)).toHaveLength(0);
  });

  it("a compiled policy found sound is not checked again; an unsound one always is", async () => {
    const { cache, env } = setup();
    const policy = sameJson(loadValidPolicy("policies"));
    const digest = policyDigestOf(policy);
    let checks = 0;
    const load = async () => (p: unknown) => {
      checks++;
      return validateCompiledPolicy(p);
    };
    expect(await compiledPolicyProblems(policy, digest, load, env)).toEqual([]);
    expect(await compiledPolicyProblems(policy, digest, load, env)).toEqual([]);
    expect(checks).toBe(1);
    expect(entries(cache)).toHaveLength(1);
    // Another digest (another policy) is checked, and its problems are not stored.
    const bad = sameJson(policy);
    bad.defaultPlan = "no-such-plan";
    const badDigest = policyDigestOf(bad);
    const problems = await compiledPolicyProblems(bad, badDigest, load, env);
    expect(problems.length).toBeGreaterThan(0);
    expect(await compiledPolicyProblems(bad, badDigest, load, env)).toEqual(problems);
    expect(checks).toBe(3);
    expect(entries(cache)).toHaveLength(1);
    // What JSON would not carry exactly is always checked: its digest does not name it.
    const odd = { ...sameJson(policy), extra: undefined };
    await compiledPolicyProblems(odd, digest, load, env);
    expect(checks).toBe(4);
    // Without a cache, every time.
    await compiledPolicyProblems(policy, digest, load, { LIMITR_CACHE_DIR: "off" });
    expect(checks).toBe(5);
    // The bundle loader's form (checker at hand) reads and records the same verdicts.
    const check = await load();
    expect(compiledPolicyProblemsSync(policy, digest, check, env)).toEqual([]);
    expect(checks).toBe(5);
    expect(compiledPolicyProblemsSync(bad, badDigest, check, env)).toEqual(problems);
    expect(checks).toBe(6);
    const other = setup().env;
    expect(compiledPolicyProblemsSync(policy, digest, check, other)).toEqual([]);
    expect(await compiledPolicyProblems(policy, digest, load, other)).toEqual([]);
    expect(checks).toBe(7);
  });
});
