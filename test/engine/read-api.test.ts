import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Limitr, previewInvoice, queryUsage } from "../../src/engine/index.js";
import { limitr, REPO } from "../cli/run-cli.js";

const POLICIES = join(REPO, "policies");
let dir: string;
let db: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "limitr-read-api-"));
  db = join(dir, "usage.db");
  const engine = await Limitr.open({ policy: POLICIES, store: `sqlite:${db}` });
  const call = (customer: string, day: number, model: string, input: number, output: number) =>
    engine.record({
      type: "llm.completion",
      customer,
      timestamp: `2026-10-${String(day).padStart(2, "0")}T12:00:00Z`,
      properties: { model, input_tokens: input, output_tokens: output },
    });
  call("globex", 3, "gpt-4o", 1_200, 300);
  call("globex", 3, "gpt-4o-mini", 800, 100);
  call("globex", 17, "gpt-4o", 2_000_000, 40_000);
  call("initech", 5, "gpt-4o", 50, 5);
  await engine.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the library's read API (what a usage page needs, without the CLI)", () => {
  it("queryUsage totals a meter per customer, per day and per property, as `limitr usage query` does", async () => {
    const byCustomer = await queryUsage({ policy: POLICIES, store: `sqlite:${db}`, meter: "input_tokens" });
    expect(byCustomer).toEqual({
      groupBy: "customer",
      period: null,
      rows: [
        { meter: "input_tokens", customer: "globex", value: "2002000", events: 3 },
        { meter: "input_tokens", customer: "initech", value: "50", events: 1 },
      ],
    });
    const byDay = await queryUsage({
      policy: POLICIES,
      store: db,
      meter: "input_tokens",
      customer: "globex",
      period: "2026-10",
      groupBy: "day",
    });
    expect(byDay.rows).toEqual([
      { meter: "input_tokens", day: "2026-10-03", value: "2000", events: 2 },
      { meter: "input_tokens", day: "2026-10-17", value: "2000000", events: 1 },
    ]);
    const cli = await limitr(
      [
        "usage",
        "query",
        "--meter",
        "input_tokens",
        "--group-by",
        "model",
        "--period",
        "2026-10",
        "--format",
        "json",
        "--db",
        db,
      ],
      REPO,
    );
    const byModel = await queryUsage({
      policy: POLICIES,
      store: db,
      meter: "input_tokens",
      period: "2026-10",
      groupBy: "model",
    });
    expect({ formatVersion: 1, ...byModel }).toEqual(JSON.parse(cli.stdout));
  });

  it("previewInvoice is the invoice `limitr bill --format json` would print for the customer, recording nothing", async () => {
    const draft = await previewInvoice({
      policy: POLICIES,
      store: db,
      customer: "globex",
      period: "2026-10",
    });
    const cli = await limitr(["bill", "--period", "2026-10", "--format", "json", "--db", db], REPO);
    expect(cli.exitCode).toBe(0);
    const billed = (JSON.parse(cli.stdout).invoices as { customer: string }[]).find(
      (i) => i.customer === "globex",
    );
    expect(draft).not.toBeNull();
    const { number: _n, ...rest } = draft as NonNullable<typeof draft>;
    const { number: _m, ...expected } = billed as Record<string, unknown>;
    expect(rest).toEqual(expected);
    expect(Number(draft?.total)).toBeGreaterThan(0);
  });

  it("reads under a running engine's active policy, and says what is wrong with a bad period or a missing store", async () => {
    const engine = await Limitr.open({ policy: POLICIES, store: "memory" });
    try {
      const rows = await queryUsage({
        policy: engine,
        store: db,
        meter: "input_tokens",
        customer: "initech",
      });
      expect(rows.rows).toEqual([{ meter: "input_tokens", customer: "initech", value: "50", events: 1 }]);
    } finally {
      await engine.close();
    }
    await expect(queryUsage({ policy: POLICIES, store: db, period: "October" })).rejects.toThrow(
      /bad period October/,
    );
    await expect(
      previewInvoice({ policy: POLICIES, store: join(dir, "typo.db"), customer: "globex" }),
    ).rejects.toThrow(/typo\.db/);
  });
});
