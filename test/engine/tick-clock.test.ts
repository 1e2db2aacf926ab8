import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";
import { TICK_CALLS } from "../../src/engine/runtime/tick-clock.js";

// allow() reads the wall clock once per tick of calls (TickClock); these tests move the wall
// clock with fake timers (Date only) inside one synchronous run, where a cached reading applies.
const policy = compilePolicy({
  limitr: 1,
  name: "tick",
  timezone: "UTC",
  meters: { calls: { event: "api.call", aggregation: "count" } },
  plans: {
    standard: {
      default: true,
      entitlements: {
        daily: { meter: "calls", limit: 2, period: "day", mode: "hard" },
        monthly: { meter: "calls", limit: 1e9, period: "month", mode: "soft" },
      },
    },
  },
});

const DAY_END = Date.UTC(2026, 10, 18); // midnight UTC: the daily period's boundary
const MID_MONTH = Date.UTC(2026, 10, 14, 12);

describe("tick clock on the decision path", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a call right after a period boundary is decided in the new period, even with a reading from before it", async () => {
    vi.setSystemTime(DAY_END - 10);
    const store = new MemoryEngineStore();
    const l = await Limitr.open({ policy, store, alerts: false });
    expect(l.allow("acme", "daily")).toBe(true);
    expect(l.allow("acme", "daily")).toBe(true);
    expect(l.allow("acme", "daily")).toBe(false);
    // Same synchronous run: the cached reading is 10 ms before the boundary, the real clock past it.
    vi.setSystemTime(DAY_END + 1);
    expect(l.allow("acme", "daily")).toBe(true);
    expect(l.usage("acme", "daily")).toMatchObject({ used: 1, resetsAt: DAY_END + 86_400_000 });
    await l.flush();
    const ts = store.events().map((e) => e.ts);
    expect(ts.slice(0, 2).every((t) => t < DAY_END)).toBe(true);
    expect(ts[2]).toBe(DAY_END + 1);
    await l.close();
  });

  it("far from any boundary a reading serves at most TICK_CALLS calls and never outlives the synchronous run", async () => {
    vi.setSystemTime(MID_MONTH);
    const store = new MemoryEngineStore();
    const l = await Limitr.open({ policy, store, alerts: false });
    await Promise.resolve();
    expect(l.allow("acme", "monthly")).toBe(true); // reads the clock: MID_MONTH
    vi.setSystemTime(MID_MONTH + 5_000);
    for (let i = 0; i < TICK_CALLS; i++) l.allow("acme", "monthly"); // the same reading
    l.allow("acme", "monthly"); // TICK_CALLS calls later: read again
    await Promise.resolve(); // the run ended: the next call reads the clock
    vi.setSystemTime(MID_MONTH + 9_000);
    l.allow("acme", "monthly");
    await l.flush();
    const ts = store.events().map((e) => e.ts);
    expect(ts).toHaveLength(TICK_CALLS + 3);
    expect(ts.slice(0, TICK_CALLS + 1).every((t) => t === MID_MONTH)).toBe(true);
    expect(ts[TICK_CALLS + 1]).toBe(MID_MONTH + 5_000);
    expect(ts[TICK_CALLS + 2]).toBe(MID_MONTH + 9_000);
    await l.close();
  });

  it("an injected clock is read on every call", async () => {
    let t = MID_MONTH;
    const store = new MemoryEngineStore();
    const l = await Limitr.open({ policy, store, alerts: false, now: () => t });
    l.allow("acme", "monthly");
    t += 1;
    l.allow("acme", "monthly");
    t = DAY_END - 1;
    l.allow("acme", "daily");
    l.allow("acme", "daily");
    t = DAY_END;
    expect(l.allow("acme", "daily")).toBe(true);
    await l.flush();
    expect(store.events().map((e) => e.ts)).toEqual([
      MID_MONTH,
      MID_MONTH + 1,
      DAY_END - 1,
      DAY_END - 1,
      DAY_END,
    ]);
    await l.close();
  });
});
