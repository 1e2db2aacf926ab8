import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PolicyReplay } from "../../src/cli/services/simulate/policy-replay.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";

const fixture = (name: string) =>
  compilePolicy(
    parse(readFileSync(join(import.meta.dirname, "../../fixtures/engine", name, "policy.yaml"), "utf8")),
  ) as CompiledPolicy;

const T0 = Date.parse("2026-03-10T12:00:00Z");

/** `simulate` replays recorded events through the engine: credit-unit limits and spend caps deny as live. */
describe("simulate replay: credit units and spend caps", () => {
  it("a hard limit in credits denies the event that would pass it, converted from its tokens", async () => {
    const replay = new PolicyReplay(fixture("credits-hard-limit"));
    await replay.open(new Map(), T0, T0 + 86_400_000);
    try {
      expect(replay.types()).toContain("llm.completion");
      const props = { model: "gpt-4o", input_tokens: 1200, output_tokens: 300 };
      for (let i = 0; i < 3; i++) replay.feed("llm.completion", "c1", T0 + i, null, props, true);
      // 0.6 credits each against a limit of 1: the second and third are denied
      expect(replay.customers.get("c1")).toEqual({ denied: 2, deniedBy: { chat: 2 }, ranDry: 0, capped: 0 });
    } finally {
      await replay.close();
    }
  });

  it("a spend cap shared by two entitlements denies once their prices pass its amount", async () => {
    const replay = new PolicyReplay(fixture("r18-cap-shared-by-two-entitlements"));
    await replay.open(new Map(), T0, T0 + 86_400_000);
    try {
      // images at 0.25 and chat calls at 0.10 against 1.00 a day: 0.75, 0.85, 0.95, then two denied
      for (let i = 0; i < 3; i++) replay.feed("image.generated", "c1", T0 + i, null, {}, true);
      for (let i = 0; i < 4; i++) replay.feed("chat.call", "c1", T0 + 10 + i, null, {}, true);
      expect(replay.customers.get("c1")).toEqual({ denied: 2, deniedBy: { chat: 2 }, ranDry: 0, capped: 2 });
      // the next day the cap starts over
      replay.feed("chat.call", "c1", T0 + 86_400_000, null, {}, true);
      expect(replay.customers.get("c1")?.denied).toBe(2);
    } finally {
      await replay.close();
    }
  });

  it("a prepaid call the wallet cannot pay is denied and counted as the wallet running dry (R17)", async () => {
    const replay = new PolicyReplay(fixture("wallet-minimum-reserve"));
    await replay.open(new Map(), T0, T0 + 86_400_000);
    try {
      // acme opens with 10, keeps 2 in reserve; 3,000 tokens cost 3: 3, 6, then the third would take 9 > 8
      for (let i = 0; i < 3; i++) replay.feed("llm.completion", "acme", T0 + i, null, { tokens: 3000 }, true);
      // a customer the policy gives no wallet runs dry at once
      replay.feed("llm.completion", "newbie", T0, null, { tokens: 1 }, true);
      expect(replay.customers.get("acme")).toEqual({
        denied: 1,
        deniedBy: { chat: 1 },
        ranDry: 1,
        capped: 0,
      });
      expect(replay.customers.get("newbie")?.ranDry).toBe(1);
    } finally {
      await replay.close();
    }
  });
});
