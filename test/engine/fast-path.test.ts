import { describe, expect, it, vi } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

// allow() on the wall clock takes a fast path for plain metered slots (Decider.quick); it reads a
// copy of the slot's counter id and limit kept in the slot table's cells. These cases change a
// slot under it (a plan change, a new customer, a limit reached, the end of a slot's validity
// window) and check that it follows.
const policy = compilePolicy({
  limitr: 1,
  name: "fast",
  timezone: "UTC",
  meters: { calls: { event: "api.call", aggregation: "count" } },
  plans: {
    big: {
      default: true,
      entitlements: {
        api: { meter: "calls", limit: 5, period: "month", mode: "hard" },
        soft: { meter: "calls", limit: 1, period: "month", mode: "soft" },
      },
    },
    small: { entitlements: { api: { meter: "calls", limit: 2, period: "month", mode: "hard" } } },
    none: { entitlements: {} },
  },
});

describe("allow() fast path", () => {
  it("follows a plan change of the customer: a lower limit, or no entitlement at all", async () => {
    const l = await Limitr.open({ policy, store: new MemoryEngineStore(), alerts: false });
    // Both start on the default plan (limit 5), whose slots take the fast path.
    expect([l.allow("acme", "api"), l.allow("acme", "api")]).toEqual([true, true]);
    expect(l.allow("initech", "api")).toBe(true);
    // The cached slot (limit 5) would allow a third call; the new plan's limit is 2.
    l.setPlan("acme", "small");
    expect(l.allow("acme", "api")).toBe(false);
    expect(l.usage("acme", "api")).toMatchObject({ used: 2, limit: 2 });
    l.setPlan("initech", "none");
    expect(l.allow("initech", "api")).toBe(false);
    expect(l.decide("initech", "api").reason).toBe("not_entitled");
    l.setPlan("acme", "big");
    expect([l.allow("acme", "api"), l.allow("acme", "api"), l.allow("acme", "api")]).toEqual([
      true,
      true,
      true,
    ]);
    expect(l.allow("acme", "api")).toBe(false);
    await l.close();
  });

  it("counts each customer on its own counter, soft limits past their limit, and stores every call", async () => {
    const store = new MemoryEngineStore();
    const l = await Limitr.open({ policy, store, alerts: false });
    for (const c of ["a", "b", "c"]) expect(l.allow(c, "api", 5)).toBe(true);
    for (const c of ["a", "b", "c"]) expect(l.allow(c, "api", 0.5)).toBe(false);
    for (let i = 0; i < 3; i++) expect(l.allow("b", "soft")).toBe(true);
    expect(l.usage("b", "soft")).toMatchObject({ used: 3, limit: 1 });
    expect(l.allow("d", "nope")).toBe(false);
    await l.flush();
    expect(store.events().map((e) => [e.customer, e.value])).toEqual([
      ["a", 5],
      ["b", 5],
      ["c", 5],
      ["b", 1],
      ["b", 1],
      ["b", 1],
    ]);
    await l.close();
  });

  it("a plan change at a later instant applies from that instant, even within one reading of the clock", async () => {
    const at = Date.UTC(2026, 10, 18, 12);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(at - 60_000);
      const l = await Limitr.open({ policy, store: new MemoryEngineStore(), alerts: false });
      l.setPlan("acme", "big");
      l.setPlan("acme", "small", { at: at });
      await Promise.resolve();
      // Plan history makes the slot time-bound, valid until the second change: far from both
      // ends of that window, calls take the fast path.
      vi.setSystemTime(at - 30_000);
      expect([l.allow("acme", "api"), l.allow("acme", "api")]).toEqual([true, true]);
      await Promise.resolve();
      // Within a second of the change: the real clock is read, and the call is decided as of it.
      vi.setSystemTime(at - 500);
      expect(l.allow("acme", "api")).toBe(true);
      // The same synchronous run, so the cached reading is from before the change; the clock is past it.
      vi.setSystemTime(at + 1);
      expect(l.allow("acme", "api")).toBe(false);
      expect(l.decide("acme", "api")).toMatchObject({ allowed: false, limit: 2, used: 3 });
      await l.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("sees a period end on slots with and without a hard limit, and on counters idle since", async () => {
    // Within a second of the month's end the real clock is read; the first call of the new month
    // starts the new period (R6) on the fast path's counters as on any other.
    const end = Date.UTC(2026, 11, 1);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(end - 86_400_000);
      const l = await Limitr.open({ policy, store: new MemoryEngineStore(), alerts: false });
      for (const c of ["a", "b"]) for (let i = 0; i < 3; i++) expect(l.allow(c, "soft")).toBe(true);
      expect(l.allow("a", "api", 4)).toBe(true);
      await Promise.resolve();
      vi.setSystemTime(end - 400);
      expect(l.allow("a", "soft")).toBe(true);
      expect(l.usage("a", "soft")).toMatchObject({ used: 4, resetsAt: end });
      await Promise.resolve();
      vi.setSystemTime(end + 5_000);
      expect(l.allow("a", "soft")).toBe(true);
      expect(l.allow("a", "api", 5)).toBe(true);
      expect(l.usage("a", "soft")).toMatchObject({ used: 1, resetsAt: Date.UTC(2027, 0, 1) });
      // b's counter is still in November (not used since): its next call starts December too.
      await Promise.resolve();
      vi.setSystemTime(end + 10_000);
      expect([l.allow("b", "soft"), l.allow("a", "soft")]).toEqual([true, true]);
      expect(l.usage("b", "soft")).toMatchObject({ used: 1 });
      expect(l.usage("a", "soft")).toMatchObject({ used: 2 });
      expect(l.usage("a", "api")).toMatchObject({ used: 5 });
      expect(l.allow("a", "api")).toBe(false);
      await l.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
