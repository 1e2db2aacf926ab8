import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { runBill } from "../../src/engine/adapters/store/bill-run.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { validateCompiledPolicy } from "../../src/engine/core/bundles/validate-compiled.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { parsePeriod } from "../../src/engine/core/periods.js";
import { decompilePolicy } from "../../src/engine/core/policy/decompile.js";
import { Limitr } from "../../src/engine/index.js";

const POLICY = join(import.meta.dirname, "../../fixtures/credits/payg/policies");

/**
 * A credit-unit entitlement is billed from the stored events' quantities,
 * converted with the same rates: the invoice's quantity is the engine's
 * counter, to the last decimal (R9).
 */
describe("credit units: the engine and the bill agree", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-credits-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("mixed-model calls, an amount in credits and a recorded event bill as the engine counted them", async () => {
    const policy = loadValidPolicy(POLICY);
    const db = join(dir, "usage.db");
    const engine = await Limitr.open({ policy, store: `sqlite:${db}`, durability: "sync" });
    const at = Date.parse("2026-10-05T15:00:00Z");
    const chat = (properties: Record<string, string | number>) =>
      engine.decide("dave", "chat", { properties, now: at });
    expect(chat({ model: "gpt-4o", input_tokens: 1200, output_tokens: 300 })).toMatchObject({ used: 0.6 });
    expect(chat({ model: "gpt-4o-mini", input_tokens: 10_000, output_tokens: 2000 }).price).toBe("0.0115");
    expect(engine.decide("dave", "chat", 2, { now: at }).allowed).toBe(true);
    engine.record({
      type: "llm.completion",
      customer: "dave",
      timestamp: at,
      properties: { model: "gpt-4o", input_tokens: 4000 },
    });
    // 3 images at 4 credits
    expect(chat({ images: 3 }).price).toBe("0.12");
    // 0.6 + 1.15 + 2 + 1 (recorded: caps count it too) + 12 credits
    expect(engine.usage("dave", "chat", { now: at }).used).toBeCloseTo(16.75, 12);
    expect(engine.caps("dave", { now: at })).toMatchObject([{ cap: "ai-daily", spent: "0.1675" }]);
    await engine.close();

    const store = openDatabase(db, { readonly: true });
    try {
      const bill = await runBill(store, policy, parsePeriod("2026-10", policy.timezone)!, {
        recordCredits: false,
      });
      const lines = bill.invoices.find((i) => i.customer === "dave")?.lines ?? [];
      const line = (e: string) => lines.find((l) => l.entitlement === e && l.kind === "usage");
      expect(line("chat")).toMatchObject({ meter: "credits", quantity: "16.75" });
      expect(line("chat")?.amount.toFixed(2)).toBe("0.17");
    } finally {
      store.close();
    }
  });

  it("a compiled policy with credit units and caps survives the bundle round trip and its checks", () => {
    const policy = loadValidPolicy(POLICY);
    expect(validateCompiledPolicy(policy)).toEqual([]);
    expect(compilePolicy(decompilePolicy(policy))).toEqual(policy);
  });
});
