import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { InputError } from "../../src/engine/core/errors.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { REDIS_URL } from "../redis/redis-helpers.js";

const policy = (period: unknown) =>
  compilePolicy({
    limitr: 1,
    timezone: "UTC",
    meters: { calls: { event: "api.request", aggregation: "count" } },
    plans: {
      free: { default: true, entitlements: { api: { meter: "calls", limit: 100, mode: "hard", period } } },
    },
  });

describe("sliding windows and counters shared through Redis", () => {
  it("a hard limit on a sliding window is refused with shared counters, naming the entitlement", async () => {
    const opened = Limitr.open({
      policy: policy({ sliding: "PT24H" }),
      store: "memory",
      counters: REDIS_URL,
    });
    await expect(opened).rejects.toBeInstanceOf(InputError);
    await expect(opened).rejects.toThrow(/free\.api has a sliding window/);
  });

  it("one engine without counters keeps the sliding window", async () => {
    const engine = await Limitr.open({
      policy: policy({ sliding: "PT24H" }),
      store: "memory",
      alerts: false,
    });
    expect(engine.allow("acme", "api", 100)).toBe(true);
    expect(engine.allow("acme", "api", 1)).toBe(false);
    await engine.close();
  });
});
