import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { edit, makeRepo } from "./helpers.js";

/**
 * `limitr status`: per environment the version served, its digest, signer and
 * pin; for the store its events, time range, customers and schema version.
 * It only reads: no store is created, none is migrated.
 */
describe("limitr status", () => {
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let keyId: string;
  beforeAll(async () => {
    repo = await makeRepo({ tests: false });
    const keys = await limitr(["keys", "generate", "--out", "keys", "--format", "json"], repo.dir);
    keyId = (JSON.parse(keys.stdout) as { keyId: string }).keyId;
    const sign = ["--sign-key", "keys/limitr-signing.pem", "--env", "production", "--allow-dirty"];
    expect((await limitr(["push", ...sign], repo.dir)).exitCode).toBe(0);
    edit(join(repo.dir, "policies/plans.yaml"), "price: 49", "price: 59");
    expect((await limitr(["push", ...sign], repo.dir)).exitCode).toBe(0);
    const back = await limitr(
      ["rollback", "--env", "production", "--to", "1", "--reason", "price", ...sign.slice(0, 2)],
      repo.dir,
    );
    expect(back.exitCode, back.stderr).toBe(0);
  });
  afterAll(() => repo.cleanup());

  it("before any usage: every environment of the policy, and a store not created yet (and still not created)", async () => {
    const r = await limitr(["status"], repo.dir);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^ENVIRONMENT +VERSION +DIGEST +SIGNER +PINNED +PUBLISHED$/);
    expect(lines[1]).toMatch(/^staging +- +- +- +no +nothing published$/);
    expect(lines[2]).toMatch(
      new RegExp(`^production +3 +[0-9a-f]{12} +${keyId} +at 3: price +\\S+ by pricing@acme-ai\\.example$`),
    );
    expect(r.stdout).toContain("usage.db: not created yet");
    expect(existsSync(join(repo.dir, ".limitr/usage.db"))).toBe(false);
  });

  it("--env and --format json: the version, digest, signer and pin, and what the store holds", async () => {
    const events = [
      { id: "a", type: "api.request", customer: "zed", timestamp: "2026-10-05T09:30:00Z" },
      { id: "b", type: "api.request", customer: "kim", timestamp: "2026-10-20T10:00:00Z" },
    ];
    writeFileSync(join(repo.dir, "e.ndjson"), events.map((e) => JSON.stringify(e)).join("\n"));
    expect((await limitr(["usage", "import", "e.ndjson"], repo.dir)).exitCode).toBe(0);
    expect(
      (await limitr(["customers", "set", "ann", "--plan", "pro", "--at", "2026-10-01"], repo.dir)).exitCode,
    ).toBe(0);
    const r = await limitr(["status", "--env", "production", "--format", "json"], repo.dir);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.environments).toHaveLength(1);
    expect(out.environments[0]).toMatchObject({
      environment: "production",
      version: 3,
      signer: keyId,
      pinned: { version: 3, reason: "price" },
      error: null,
    });
    expect(out.environments[0].digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.store).toMatchObject({
      exists: true,
      events: 2,
      firstEvent: "2026-10-05T09:30:00.000Z",
      lastEvent: "2026-10-20T10:00:00.000Z",
      customers: 3,
      subscriptions: 1,
    });
    expect(out.store.schemaVersion).toBe(out.store.currentSchemaVersion);
  });

  it("an environment whose store cannot be read is reported in its row, and the exit code is 1", async () => {
    const r = await limitr(
      ["status", "--store", "http://127.0.0.1:9/bundles", "--env", "production"],
      repo.dir,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /^production +error .*cannot fetch http:\/\/127\.0\.0\.1:9\/bundles\/production\/current\.json/m,
    );
  });
});
