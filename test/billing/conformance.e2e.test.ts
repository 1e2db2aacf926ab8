import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { limitr, REPO } from "../cli/run-cli.js";

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
  invoices: { customer: string; total: string; lines: ExpectedLine[] }[];
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
        const billed = await limitr(
          ["bill", "--period", expected.period, "--db", "usage.db", "--format", "json"],
          dir,
        );
        expect(billed.exitCode, billed.stderr).toBe(0);
        const bill = JSON.parse(billed.stdout) as { invoices: (Expected["invoices"][number] & {})[] };
        const actual = bill.invoices.map((inv) => ({
          customer: inv.customer,
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
