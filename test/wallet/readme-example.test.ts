import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { Limitr } from "../../src/engine/index.js";
import { REPO } from "../cli/run-cli.js";

it("README's wallet example holds against policies/ (payg: top-up, a prepaid allow, the balance)", async () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  expect(readme).toContain('limitr.topUp("erin", "20.00", { id: "order-1042" });');
  expect(readme).toContain('limitr.allow("erin", "chat_input", 1_000_000)');
  const limitr = await Limitr.open({ policy: join(REPO, "policies"), store: "memory" });
  try {
    limitr.setPlan("erin", "payg");
    limitr.topUp("erin", "20.00", { id: "order-1042" });
    limitr.topUp("erin", "20.00", { id: "order-1042" }); // the same order credits once
    expect(limitr.allow("erin", "chat_input", 1_000_000)).toBe(true);
    expect(limitr.balance("erin")).toMatchObject({
      unit: "USD",
      balance: "21",
      available: "21",
      minimum: "0",
    });
    expect(limitr.decide("erin", "chat_output", 2_000_000)).toMatchObject({
      allowed: false,
      reason: "insufficient_balance",
    });
  } finally {
    await limitr.close();
  }
});
