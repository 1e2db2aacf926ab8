import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll, edit, git, limitr, makeRepo, readJson } from "./helpers.js";

let dir: string;
let cleanup: () => void;
const staging = () => join(dir, ".limitr/bundles/staging");
const version = (n: number, env = "staging") =>
  readJson(join(dir, ".limitr/bundles", env, "versions", `${n}.json`));
const current = (env = "staging") => readJson(join(dir, ".limitr/bundles", env, "current.json"));

beforeAll(async () => {
  ({ dir, cleanup } = await makeRepo({ tests: false }));
});
afterAll(() => cleanup());

describe("push, history, rollback, pin (end to end)", () => {
  it("publishes version 1 with a complete manifest and a content-addressed blob", async () => {
    const r = await limitr(dir, ["push"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Pushed acme-ai to staging: version 1");
    const rec = current();
    const m = rec.manifest;
    expect(m).toMatchObject({
      formatVersion: 1,
      project: "acme-ai",
      environment: "staging",
      version: 1,
      parent: null,
      rollbackOf: null,
      source: { commit: (await git(dir, "rev-parse", "HEAD")).trim(), ref: "main", dirty: false },
      createdBy: "pricing@acme-ai.example",
      limitrVersion: readJson(join(import.meta.dirname, "../../package.json")).version,
    });
    expect(m.lineage).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(m.createdAt))).toBe(false);
    // The blob's bytes hash to the digest, so any static host can serve it as is.
    const blob = readFileSync(join(staging(), rec.blob));
    expect(`sha256:${createHash("sha256").update(blob).digest("hex")}`).toBe(m.digest);
    expect(rec.blob).toBe(`blobs/sha256/${m.digest.slice(7)}.json`);
    expect(version(1)).toEqual(rec);
  });

  it("publishes version 2 after a commit, chained to version 1", async () => {
    edit(join(dir, "policies/plans.yaml"), "overage: 0.000003 ", "overage: 0.000004 ");
    await commitAll(dir, "pro: raise chat overage");
    const r = await limitr(dir, ["push", "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe("published");
    const v1 = version(1).manifest;
    expect(out.manifest).toMatchObject({
      version: 2,
      lineage: v1.lineage,
      parent: { version: 1, digest: v1.digest },
    });
    expect(out.manifest.digest).not.toBe(v1.digest);
  });

  it("treats pushing identical content as a no-op", async () => {
    const r = await limitr(dir, ["push"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("No changes: staging is already at version 2");
    expect(existsSync(join(staging(), "versions/3.json"))).toBe(false);
  });

  it("--expect-version is compare-and-swap: exit 5 when the store moved", async () => {
    edit(join(dir, "policies/plans.yaml"), "price: 49", "price: 59");
    await commitAll(dir, "pro: $59");
    const r = await limitr(dir, ["push", "--expect-version", "1"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("expected version 1 but");
    expect(existsSync(join(staging(), "versions/3.json"))).toBe(false);
    const bad = await limitr(dir, ["push", "--expect-version", "two"]);
    expect(bad.code).toBe(64);
    await git(dir, "revert", "--no-edit", "HEAD");
  });

  it("lists both versions in history, newest first, with the current marker", async () => {
    const r = await limitr(dir, ["history"]);
    expect(r.code).toBe(0);
    const rows = r.stdout.split("\n").filter((l) => /^\*?\s+\d+\s/.test(l));
    expect(
      rows.map(
        (l) =>
          l
            .trim()
            .replace(/^\*\s+/, "")
            .split(/\s+/)[0],
      ),
    ).toEqual(["2", "1"]);
    expect(rows[0]).toMatch(/^\*/);
    const json = JSON.parse((await limitr(dir, ["history", "--format", "json"])).stdout);
    expect(json.currentVersion).toBe(2);
    expect(json.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(json.versions[1].manifest.source.commit).toBe(version(1).manifest.source.commit);
  });

  it("rolls back to the previous content as version 3 and pins the environment", async () => {
    const r = await limitr(dir, ["rollback"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Rolled back staging to version 1's content: version 3");
    expect(r.stdout).toContain("pinned");
    const m = current().manifest;
    expect(m).toMatchObject({ version: 3, rollbackOf: 1, digest: version(1).manifest.digest });
    expect(m.parent).toEqual({ version: 2, digest: version(2).manifest.digest });
    expect(readJson(join(staging(), "pinned.json"))).toMatchObject({
      version: 3,
      by: "pricing@acme-ai.example",
    });
    const h = await limitr(dir, ["history"]);
    expect(h.stdout).toContain("pinned at version 3");
    expect(h.stdout).toMatch(/3 .*rollback of 1, pinned/);
  });

  it("refuses a routine push while pinned (exit 5), publishes after unpin or with --force", async () => {
    edit(join(dir, "policies/plans.yaml"), "trial_days: 14", "trial_days: 30");
    await commitAll(dir, "pro: 30-day trial");
    const refused = await limitr(dir, ["push"]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain("limitr unpin");
    expect(refused.stderr).toContain("--force");

    const un = await limitr(dir, ["unpin"]);
    expect(un.code).toBe(0);
    expect(un.stdout).toContain("Unpinned staging");
    expect(existsSync(join(staging(), "pinned.json"))).toBe(false);
    const pushed = await limitr(dir, ["push"]);
    expect(pushed.code).toBe(0);
    expect(current().manifest.version).toBe(4);

    const back = await limitr(dir, ["rollback", "--to", "2", "--reason", "overage complaint"]);
    expect(back.code).toBe(0);
    expect(current().manifest).toMatchObject({
      version: 5,
      rollbackOf: 2,
      digest: version(2).manifest.digest,
    });
    expect(readJson(join(staging(), "pinned.json")).reason).toBe("overage complaint");
    edit(join(dir, "policies/plans.yaml"), "trial_days: 30", "trial_days: 21");
    await commitAll(dir, "pro: 21-day trial");
    const forced = await limitr(dir, ["push", "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("Lifted the pin at version 5");
    expect(current().manifest.version).toBe(6);
    expect(existsSync(join(staging(), "pinned.json"))).toBe(false);
  });

  it("refuses a dirty policy directory unless --allow-dirty, which records it", async () => {
    edit(join(dir, "policies/plans.yaml"), "trial_days: 21", "trial_days: 7");
    const refused = await limitr(dir, ["push"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("uncommitted changes: policies/plans.yaml");
    const allowed = await limitr(dir, ["push", "--allow-dirty"]);
    expect(allowed.code).toBe(0);
    expect(current().manifest).toMatchObject({ version: 7, source: { dirty: true } });
    await git(dir, "checkout", "--", "policies/plans.yaml");
  });

  it("refuses an invalid policy (exit 3) and publishes nothing", async () => {
    const before = current().manifest.version;
    edit(join(dir, "policies/plans.yaml"), "limit: 2000000", "limit: -5");
    const r = await limitr(dir, ["push", "--allow-dirty"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("plans.yaml");
    expect(current().manifest.version).toBe(before);
    await git(dir, "checkout", "--", "policies/plans.yaml");
  });

  it("refuses an environment that is not configured (exit 64)", async () => {
    const r = await limitr(dir, ["push", "--env", "prod"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("staging, production");
  });
});

describe("signed bundles (end to end)", () => {
  it("signs with a generated key and verifies; a tampered blob fails verification", async () => {
    const gen = await limitr(dir, ["keys", "generate", "--out", "keys"]);
    expect(gen.code).toBe(0);
    const keyId = /signing key ([0-9a-f]{16})/.exec(gen.stdout)?.[1];
    expect(keyId).toBeDefined();
    expect(statSync(join(dir, "keys/limitr-signing.pem")).mode & 0o777).toBe(0o600);
    const again = await limitr(dir, ["keys", "generate", "--out", "keys"]);
    expect(again.code).toBe(1);

    const pushed = await limitr(dir, [
      "push",
      "--env",
      "production",
      "--sign-key",
      "keys/limitr-signing.pem",
    ]);
    expect(pushed.code).toBe(0);
    expect(current("production").signature).toMatchObject({ algorithm: "ed25519", keyId });

    const ok = await limitr(dir, [
      "history",
      "--env",
      "production",
      "--public-key",
      "keys/limitr-signing.pub.pem",
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("verified");

    // An unsigned push to a signed environment would be rejected by every loader: refused up front.
    edit(join(dir, "policies/plans.yaml"), "trial_days: 21", "trial_days: 10");
    await commitAll(dir, "pro: 10-day trial");
    const unsigned = await limitr(dir, ["push", "--env", "production"]);
    expect(unsigned.code).toBe(5);
    expect(unsigned.stderr).toContain("--sign-key");

    // A key the verifier does not trust.
    await limitr(dir, ["keys", "generate", "--out", "keys", "--name", "other"]);
    const wrong = await limitr(dir, ["history", "--env", "production", "--public-key", "keys/other.pub.pem"]);
    expect(wrong.code).toBe(5);
    expect(wrong.stdout).toContain("unknown_key");

    const blob = join(dir, ".limitr/bundles/production", current("production").blob);
    writeFileSync(blob, readFileSync(blob, "utf8").replace('"price":"49"', '"price":"1"'));
    const bad = await limitr(dir, [
      "history",
      "--env",
      "production",
      "--public-key",
      "keys/limitr-signing.pub.pem",
    ]);
    expect(bad.code).toBe(5);
    expect(bad.stdout).toContain("FAILED digest_mismatch");
    // Rollback refuses to republish content that no longer matches its digest.
    const rb = await limitr(dir, [
      "rollback",
      "--env",
      "production",
      "--to",
      "1",
      "--sign-key",
      "keys/limitr-signing.pem",
    ]);
    expect(rb.code).toBe(5);
  });
});
