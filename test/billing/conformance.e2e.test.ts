import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitr, REPO } from "../cli/run-cli.js";
import { StripeStandIn } from "../helpers/stripe-stand-in.js";

/**
 * Billing conformance: every folder of fixtures/billing is a policy, a usage
 * file and the invoices `limitr bill` must produce from them, run through the
 * built CLI on a fresh SQLite store (see fixtures/billing/README.md).
 */
interface ExpectedLine {
  kind: string;
  entitlement: string | null;
  quantity: string | null;
  amount: string;
}
interface Expected {
  rule: string;
  period: string;
  /** Which policies priced the bill: the JSON's `pricing.source` and the versions of `pricing.versions`. */
  pricing?: { source: string; versions: (number | null)[] };
  /**
   * Late usage: the bill is pushed to Stripe (a local stand-in) first, then
   * `file` is imported (`late_events` of them land in the pushed period), and
   * the invoices are those of the period billed again; `adjusts` names the
   * invoice an adjustment invoice adjusts (null for the pushed one).
   */
  late?: { file: string; late_events: number };
  /** `currency` is compared when the case states it (multi-currency cases). */
  invoices: {
    customer: string;
    adjusts?: string | null;
    currency?: string;
    total: string;
    lines: ExpectedLine[];
  }[];
}

const ROOT = join(REPO, "fixtures", "billing");

interface EngineStep {
  op: "topUp" | "allow" | "setPlan";
  now: string;
  customer: string;
  value?: string;
  id?: string;
  entitlement?: string;
  amount?: number;
  plan?: string;
  addOns?: string[];
}

/** `engine.yaml`: calls made through the engine on the case's store before billing (wallet top-ups and debits). */
async function runEngine(file: string, dir: string): Promise<void> {
  const { steps } = parse(readFileSync(file, "utf8")) as { steps: EngineStep[] };
  let now = 0;
  const engine = await Limitr.open({
    policy: join(dir, "policies"),
    store: `sqlite:${join(dir, "usage.db")}`,
    now: () => now,
    alerts: false,
  });
  try {
    for (const s of steps) {
      now = Date.parse(s.now);
      if (s.op === "topUp") engine.topUp(s.customer, s.value as string, { id: s.id });
      else if (s.op === "setPlan") engine.setPlan(s.customer, s.plan as string, { addOns: s.addOns });
      else expect(engine.allow(s.customer, s.entitlement as string, s.amount, { id: s.id })).toBe(true);
    }
  } finally {
    await engine.close();
  }
}
/**
 * `versions.yaml`: each policy is published with `limitr push` in turn, and an
 * engine opened on the case's store over the bundle store at its `active_from`
 * activates it (recording the activation, R14). `policy.yaml` stays the work tree.
 */
async function publishVersions(file: string, caseDir: string, dir: string): Promise<string[]> {
  const spec = parse(readFileSync(file, "utf8")) as {
    env: string;
    versions: { policy: string; active_from: string }[];
  };
  const flags = ["--store", "bundles", "--env", spec.env];
  for (const v of spec.versions) {
    cpSync(join(caseDir, v.policy), join(dir, "policies", "policy.yaml"));
    const pushed = await limitr(["push", "--allow-dirty", "--skip-tests", ...flags], dir);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const at = Date.parse(v.active_from);
    const engine = await Limitr.open({
      policy: { store: join(dir, "bundles"), env: spec.env },
      store: `sqlite:${join(dir, "usage.db")}`,
      now: () => at,
      alerts: false,
    });
    await engine.close();
  }
  cpSync(join(caseDir, "policy.yaml"), join(dir, "policies", "policy.yaml"));
  return flags;
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe("billing conformance (fixtures/billing)", () => {
  it("has cases", () => {
    expect(cases.length).toBeGreaterThan(0);
  });
  for (const name of cases) {
    const caseDir = join(ROOT, name);
    const expected = JSON.parse(readFileSync(join(caseDir, "expected.json"), "utf8")) as Expected;
    it(`${name}: ${expected.rule}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "limitr-billing-"));
      try {
        mkdirSync(join(dir, "policies"));
        cpSync(join(caseDir, "policy.yaml"), join(dir, "policies", "policy.yaml"));
        cpSync(join(caseDir, "events.ndjson"), join(dir, "events.ndjson"));
        const imported = await limitr(["usage", "import", "events.ndjson", "--db", "usage.db"], dir);
        expect(imported.exitCode, imported.stderr).toBe(0);
        if (existsSync(join(caseDir, "engine.yaml"))) await runEngine(join(caseDir, "engine.yaml"), dir);
        const versions = join(caseDir, "versions.yaml");
        const flags = existsSync(versions) ? await publishVersions(versions, caseDir, dir) : [];
        const stand = expected.late ? new StripeStandIn() : null;
        let env: Record<string, string> = {};
        if (stand && expected.late) {
          await stand.start();
          env = stand.env();
          const pushed = await limitr(
            ["bill", "--period", expected.period, "--db", "usage.db", "--stripe"],
            dir,
            env,
          );
          expect(pushed.exitCode, pushed.stderr).toBe(0);
          cpSync(join(caseDir, expected.late.file), join(dir, "late.ndjson"));
          const late = await limitr(
            ["usage", "import", "late.ndjson", "--db", "usage.db", "--format", "json"],
            dir,
          );
          expect(late.exitCode, late.stderr).toBe(0);
          expect(JSON.parse(late.stdout).late_events.total).toBe(expected.late.late_events);
        }
        const billed = await limitr(
          ["bill", "--period", expected.period, "--db", "usage.db", "--format", "json", ...flags],
          dir,
          env,
        ).finally(() => stand?.stop());
        expect(billed.exitCode, billed.stderr).toBe(0);
        const bill = JSON.parse(billed.stdout) as {
          pricing: { source: string; versions: { version: number | null }[] };
          invoices: (Expected["invoices"][number] & {})[];
        };
        if (expected.pricing)
          expect({
            source: bill.pricing.source,
            versions: bill.pricing.versions.map((v) => v.version),
          }).toEqual(expected.pricing);
        const actual = bill.invoices.map((inv, i) => ({
          customer: inv.customer,
          ...(expected.late ? { adjusts: inv.adjusts ?? null } : {}),
          ...(expected.invoices[i]?.currency === undefined ? {} : { currency: inv.currency }),
          total: inv.total,
          lines: inv.lines.map(({ kind, entitlement, quantity, amount }) => ({
            kind,
            entitlement,
            quantity,
            amount,
          })),
        }));
        expect(actual).toEqual(expected.invoices);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
