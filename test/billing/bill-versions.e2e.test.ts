import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitrInProcess, REPO } from "../cli/run-cli.js";

/**
 * SPEC §15 / R14: `bill` prices a period under the versions recorded as
 * active (fixtures/billing/r14-* pin the figures); here: the override, and
 * what happens when a recorded version cannot be found.
 */
const CASE = join(REPO, "fixtures", "billing", "r14-bill-split-at-activation");
const STORE = ["--store", "bundles", "--env", "production"];
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-versions-"));
  mkdirSync(join(dir, "policies"));
  cpSync(join(CASE, "events.ndjson"), join(dir, "events.ndjson"));
  cpSync(join(CASE, "policy.yaml"), join(dir, "policies", "policy.yaml"));
  expect((await cli("usage", "import", "events.ndjson")).exitCode).toBe(0);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => limitrInProcess(["--db", "usage.db", ...args], dir);

/** An engine on the store activates `policy` (a bundle store, or a directory) at `at`, recording it. */
async function activate(policy: Parameters<typeof Limitr.open>[0]["policy"], at: string): Promise<void> {
  const now = Date.parse(at);
  const engine = await Limitr.open({
    policy,
    store: `sqlite:${join(dir, "usage.db")}`,
    now: () => now,
    alerts: false,
  });
  await engine.close();
}

async function pushAndActivate(file: string, at: string): Promise<void> {
  cpSync(join(CASE, file), join(dir, "policies", "policy.yaml"));
  const pushed = await cli("push", "--allow-dirty", "--skip-tests", ...STORE);
  expect(pushed.exitCode, pushed.stderr).toBe(0);
  await activate({ store: join(dir, "bundles"), env: "production" }, at);
}

const totals = async (...args: string[]) => {
  const r = await cli("bill", "--period", "2026-10", "--format", "json", ...args);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe("R14 bill under the recorded versions", () => {
  it("no activation recorded (a store filled by usage import): the policy directory prices the period, and the output says so", async () => {
    const r = await cli("bill", "--period", "2026-10", "--format", "json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /note: no bundle activation is recorded in the store before the end of 2026-10: priced with the policy directory \.\/policies \(store .*usage\.db\)/,
    );
    const bill = JSON.parse(r.stdout);
    expect(bill.pricing).toMatchObject({
      source: "policies",
      note: expect.stringMatching(/^no bundle activation/),
    });
    expect(bill.invoices[0].priced_by).toEqual([
      {
        version: null,
        digest: expect.stringMatching(/^sha256:/),
        from: "2026-10-01T00:00:00.000Z",
        to: "2026-11-01T00:00:00.000Z",
      },
    ]);
    expect(bill.totals.total).toBe("64.00");
    const text = await cli("bill", "--period", "2026-10");
    expect(text.stdout).toMatch(/priced by the policy directory \(sha256:[0-9a-f]{12}\)/);
  });

  it("--policies DIR prices the whole period with that directory, whatever was active", async () => {
    await pushAndActivate("policy-v1.yaml", "2026-09-01T00:00:00Z");
    await pushAndActivate("policy.yaml", "2026-10-15T14:30:00Z");
    const recorded = await totals(...STORE);
    expect(recorded.totals.total).toBe("49.60");
    const explicit = await totals("--policies", "policies");
    expect(explicit.pricing).toMatchObject({ source: "policies", note: null });
    // v2 (the work tree) for all of October: fee 62.00, 100 calls x 0.02.
    expect(explicit.totals.total).toBe("64.00");
  });

  it("a recorded version missing from the bundle store is an error naming it, with the way out", async () => {
    await pushAndActivate("policy-v1.yaml", "2026-09-01T00:00:00Z");
    await pushAndActivate("policy.yaml", "2026-10-15T14:30:00Z");
    rmSync(join(dir, "bundles", "production", "blobs"), { recursive: true });
    const r = await cli("bill", "--period", "2026-10", ...STORE);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /error: version 1 \(sha256:[0-9a-f]{64}\), active from 2026-10-01T00:00:00\.000Z is not in the bundle store .*bundles\/production: pass the right --store\/--env, or --policies DIR/,
    );
    // The work tree holds v2's content: that version is found without the store; no bundle store at all is named as such.
    const noStore = await cli("bill", "--period", "2026-10");
    expect(noStore.exitCode).toBe(1);
    expect(noStore.stderr).toMatch(
      /version 1 .* there is no bundle store to read it from .*pass --store DIR/,
    );
  });

  it("an engine that ran an unpublished policy directory: its content is priced when it is the work tree's", async () => {
    await activate(join(dir, "policies"), "2026-09-15T00:00:00Z");
    const r = await totals();
    expect(r.pricing.source).toBe("activations");
    expect(r.pricing.versions.map((v: { version: number }) => v.version)).toEqual([0]);
    expect(r.totals.total).toBe("64.00");
    cpSync(join(CASE, "policy-v1.yaml"), join(dir, "policies", "policy.yaml"));
    const changed = await cli("bill", "--period", "2026-10");
    expect(changed.exitCode).toBe(1);
    expect(changed.stderr).toMatch(
      /an unpublished policy \(sha256:[0-9a-f]{64}\), active from .* is not the work tree's policy/,
    );
  });
});
