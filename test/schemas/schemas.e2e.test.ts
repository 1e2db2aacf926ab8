import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitr } from "../cli/run-cli.js";
import { commitAll, edit, makeRepo } from "../gitops/helpers.js";
import { ajvFor, problems, SCHEMAS, schemaFiles, schemaId, strict } from "./ajv.js";

/**
 * Every schema under schemas/ compiles under ajv's strict mode, and the real
 * outputs of the built CLI (and a real pushed bundle) validate against them:
 * the schemas document what the program writes, not what someone hoped.
 */
const files = schemaFiles;
const id = schemaId;

describe("schemas compile in strict mode", () => {
  it.each(files)("%s", (file) => {
    const schema = JSON.parse(readFileSync(join(SCHEMAS, file), "utf8")) as { $id: string; $schema: string };
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.$id).toBe(id(file));
    expect(ajvFor(file).getSchema(schema.$id)).toBeTypeOf("function");
  });
});

describe("CLI JSON outputs validate against schemas/cli", () => {
  it("validate --format json, for a valid and an invalid policy", async () => {
    const ok = await limitr(["validate", "--format", "json"]);
    expect(ok.exitCode).toBe(0);
    expect(problems("cli/validate.schema.json", JSON.parse(ok.stdout))).toEqual([]);
    const bad = await limitr([
      "validate",
      "--policies",
      "fixtures/invalid/several-problems",
      "--format",
      "json",
    ]);
    expect(bad.exitCode).toBe(3);
    const out = JSON.parse(bad.stdout) as { diagnostics: unknown[] };
    expect(out.diagnostics.length).toBeGreaterThan(1);
    expect(problems("cli/validate.schema.json", out)).toEqual([]);
  });

  it("test --format json, passing, failing and malformed", async () => {
    for (const [args, code] of [
      [[], 0],
      [["--policies", "fixtures/policy-tests/wrong-expectation"], 4],
      [["--policies", "fixtures/policy-tests/malformed-shape"], 3],
    ] as const) {
      const r = await limitr(["test", ...args, "--format", "json"]);
      expect(r.exitCode).toBe(code);
      expect(problems("cli/test.schema.json", JSON.parse(r.stdout))).toEqual([]);
    }
  });

  it("bill --format json, after importing hand-written events", async () => {
    const repo = await makeRepo({ commit: false });
    try {
      const events = [
        {
          id: "e1",
          type: "llm.completion",
          customer: "globex",
          timestamp: "2026-10-03T12:00:00Z",
          properties: { model: "gpt-4o", input_tokens: 5200000, output_tokens: 10 },
        },
        {
          id: "e2",
          type: "gpu.job",
          customer: "acme-research",
          timestamp: "2026-10-04T12:00:00-04:00",
          properties: { gpu: "h100", seconds: 40000 },
        },
        {
          id: "e3",
          type: "mcp.tool_call",
          customer: "acme-holdings",
          timestamp: 1791288000000,
          properties: { tool: "web_search" },
        },
        { id: "e4", type: "api.request", customer: "zed", timestamp: "2026-10-05T09:30:00" },
      ];
      for (const e of events) expect(problems("usage-event.schema.json", e)).toEqual([]);
      writeFileSync(join(repo.dir, "events.ndjson"), `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
      const imported = await limitr(["usage", "import", "events.ndjson"], repo.dir);
      expect(imported.exitCode, imported.stderr).toBe(0);
      const r = await limitr(["bill", "--period", "2026-10", "--format", "json"], repo.dir);
      expect(r.exitCode, r.stderr).toBe(0);
      const bill = JSON.parse(r.stdout) as { invoices: { customer: string }[] };
      expect(bill.invoices.map((i) => i.customer)).toContain("globex");
      expect(problems("cli/bill.schema.json", bill)).toEqual([]);
    } finally {
      repo.cleanup();
    }
  });
});

describe("diff and bundles in a temp git repo", () => {
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  beforeAll(async () => {
    // Without the example's policy tests: the prices they pin are changed here.
    repo = await makeRepo({ tests: false });
  });
  afterAll(() => repo.cleanup());

  it("diff --format json between two commits and against the work tree", async () => {
    edit(join(repo.dir, "policies/plans.yaml"), "price: 49", "price: 59");
    await commitAll(repo.dir, "pro costs more");
    edit(join(repo.dir, "policies/plans.yaml"), "limit: 100000\n", "limit: 50000\n");
    for (const args of [["HEAD~1", "HEAD"], []]) {
      const r = await limitr(["diff", ...args, "--format", "json"], repo.dir);
      expect(r.exitCode, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { changes: unknown[] };
      expect(out.changes.length).toBeGreaterThan(0);
      expect(problems("cli/diff.schema.json", out)).toEqual([]);
    }
  });

  it("push (signed and unsigned) and rollback write records matching bundle.schema.json", async () => {
    const keys = await limitr(["keys", "generate", "--out", "keys"], repo.dir);
    expect(keys.exitCode, keys.stderr).toBe(0);
    const store = join(repo.dir, "store");
    const push = (env: string, ...extra: string[]) =>
      limitr(["push", "--allow-dirty", "--store", "store", "--env", env, ...extra], repo.dir);
    expect((await push("production", "--sign-key", "keys/limitr-signing.pem")).exitCode).toBe(0);
    // Published with --skip-tests: recorded in the manifest.
    edit(join(repo.dir, "policies/plans.yaml"), "price: 2000", "price: 2100");
    const skipped = await push("production", "--sign-key", "keys/limitr-signing.pem", "--skip-tests");
    expect(skipped.exitCode, skipped.stderr).toBe(0);
    const back = await limitr(
      [
        "rollback",
        "--store",
        "store",
        "--env",
        "production",
        "--to",
        "1",
        "--sign-key",
        "keys/limitr-signing.pem",
      ],
      repo.dir,
    );
    expect(back.exitCode, back.stderr).toBe(0);
    expect((await push("staging")).exitCode).toBe(0);

    const env = join(store, "production");
    const versions = readdirSync(join(env, "versions")).sort();
    expect(versions).toEqual(["1.json", "2.json", "3.json"]);
    const records = [...versions.map((v) => `versions/${v}`), "current.json"].map((f) =>
      JSON.parse(readFileSync(join(env, f), "utf8")),
    );
    for (const r of records) expect(problems("bundle.schema.json", r)).toEqual([]);
    expect(records[1].manifest.testsSkipped).toBe(true);
    expect(records[2].manifest).toMatchObject({ version: 3, rollbackOf: 1, parent: { version: 2 } });
    const unsigned = JSON.parse(readFileSync(join(store, "staging", "current.json"), "utf8"));
    expect(unsigned.signature).toBeNull();
    expect(problems("bundle.schema.json", unsigned)).toEqual([]);
  });
});

describe("schemas reject what the program never writes", () => {
  const invoice = {
    number: "acme-ai-2026-10-0001",
    customer: "globex",
    plan: "pro",
    currency: "USD",
    lines: [
      {
        kind: "subscription",
        description: "Pro",
        entitlement: null,
        meter: null,
        quantity: null,
        unit_price: null,
        amount: "49.00",
      },
    ],
    subtotal: "49.00",
    discount: "0.00",
    credits_applied: "0.00",
    total: "49.00",
    cost: "0.00",
    margin_percent: "100.00",
  };

  it("an invoice amount as a binary float", () => {
    const v = strict.compile({ $ref: `${id("cli/bill.schema.json")}#/$defs/invoice` });
    expect(v(invoice)).toBe(true);
    expect(v({ ...invoice, total: 49 })).toBe(false);
    expect(v({ ...invoice, lines: [{ ...invoice.lines[0], kind: "fee" }] })).toBe(false);
  });

  it("a usage event without an id, or with a nested property", () => {
    const e = { id: "e1", type: "api.request", customer: "acme", timestamp: "2026-10-01T00:00:00Z" };
    expect(problems("usage-event.schema.json", e)).toEqual([]);
    const { id: _, ...noId } = e;
    expect(problems("usage-event.schema.json", noId)).not.toEqual([]);
    expect(problems("usage-event.schema.json", { ...e, properties: { a: { b: 1 } } })).not.toEqual([]);
    expect(problems("usage-event.schema.json", { ...e, timestamp: "yesterday" })).not.toEqual([]);
  });

  it("a bundle record whose digest is not sha256 or whose signature is not ed25519", () => {
    const hex = "ab".repeat(32);
    const record = {
      formatVersion: 1,
      manifest: {
        formatVersion: 1,
        project: "acme-ai",
        environment: "production",
        lineage: "f0bc7909-18a8-47b9-aa2c-01c668cd9b4e",
        version: 1,
        digest: `sha256:${hex}`,
        parent: null,
        rollbackOf: null,
        source: { commit: null, ref: null, dirty: true },
        createdAt: "2026-11-24T20:35:52.906Z",
        createdBy: "pricing@acme-ai.example",
        limitrVersion: "0.1.0",
      },
      signature: { algorithm: "ed25519", keyId: "e3d30e22aedf351c", value: "c2ln" },
      blob: `blobs/sha256/${hex}.json`,
    };
    expect(problems("bundle.schema.json", record)).toEqual([]);
    const manifest = { ...record.manifest, digest: `md5:${hex.slice(0, 32)}` };
    expect(problems("bundle.schema.json", { ...record, manifest })).not.toEqual([]);
    const signature = { ...record.signature, algorithm: "rsa" };
    expect(problems("bundle.schema.json", { ...record, signature })).not.toEqual([]);
  });
});
