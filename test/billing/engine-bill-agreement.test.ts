import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { runBill } from "../../src/engine/adapters/store/bill-run.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { parsePeriod } from "../../src/engine/core/periods.js";
import { Limitr } from "../../src/engine/index.js";

/**
 * What the engine counts is what the bill charges: direct calls on count
 * meters and on meters with a `where` filter are stored so the rater reads
 * the same quantities.
 */
describe("the engine and the bill agree", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-agree-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("an allow of n units on a count meter and on a filtered meter is billed as n units", async () => {
    const policy = loadValidPolicy("policies");
    const db = join(dir, "usage.db");
    const engine = await Limitr.open({ policy, store: `sqlite:${db}`, durability: "sync" });
    const at = Date.parse("2026-10-05T15:00:00Z");
    engine.setPlan("dave", "pro", { at: Date.parse("2026-09-01T04:00:00Z") });
    expect(engine.decide("dave", "api", 100, { now: at }).used).toBe(100);
    expect(engine.decide("dave", "mcp_search", 600, { now: at }).used).toBe(600);
    await engine.close();

    const store = openDatabase(db, { readonly: true });
    try {
      const bill = await runBill(store, policy, parsePeriod("2026-10", policy.timezone)!, {
        recordCredits: false,
      });
      const lines = bill.invoices.find((i) => i.customer === "dave")?.lines ?? [];
      const qty = (entitlement: string) =>
        lines.find((l) => l.entitlement === entitlement && l.kind === "usage")?.quantity;
      expect(qty("api")).toBe("100");
      expect(qty("mcp_search")).toBe("600");
      // pro mcp_search: package of 100 for 0.50 after 500 free units -> 1 package = 0.50
      expect(lines.find((l) => l.entitlement === "mcp_search")?.amount.toFixed(2)).toBe("0.50");
    } finally {
      store.close();
    }
  });
});
