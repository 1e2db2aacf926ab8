import { afterEach, describe, expect, it } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { Hold } from "../../src/engine/core/engine/decision.js";
import { InputError } from "../../src/engine/core/errors.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

/**
 * Bad runtime input never throws an untyped error (SPEC §4): decisions answer
 * with a reason from the closed set, `settle`/`release` of what is not a hold
 * answer `invalid_hold` / false, and the non-decision calls throw InputError.
 * Nothing bad input touches is counted or stored.
 */
const policy = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 10 } } } },
});
const NOW = Date.parse("2026-10-05T12:00:00Z");
const T = { now: NOW };

const engines: Limitr[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

async function fresh(): Promise<{ limitr: Limitr; store: MemoryEngineStore }> {
  const store = new MemoryEngineStore();
  const limitr = await Limitr.open({ policy, store, now: () => NOW });
  engines.push(limitr);
  return { limitr, store };
}

type Engine = Limitr & Record<string, (...args: unknown[]) => unknown>;
type Expect = { reason: string } | { returns: unknown } | { throws: typeof InputError };

const weird: [string, unknown][] = [
  ["null", null],
  ["undefined", undefined],
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["a string", "5"],
  ["an object", {}],
  ["an array", []],
  ["a bigint", 5n],
  ["a symbol", Symbol("x")],
];
const notAString = weird.filter(([, v]) => typeof v !== "string" && v !== undefined);

const cases: [string, string, unknown[], Expect][] = [
  ...weird
    .filter(([, v]) => v !== undefined)
    .flatMap(([name, v]): [string, string, unknown[], Expect][] => [
      [`amount ${name}`, "decide", ["c1", "api", v, T], { reason: "invalid_amount" }],
      [`amount ${name}`, "check", ["c1", "api", v, T], { reason: "invalid_amount" }],
      [`amount ${name}`, "allow", ["c1", "api", v, T], { returns: false }],
      [`amount ${name}`, "reserve", ["c1", "api", v, T], { returns: null }],
    ]),
  ...notAString.flatMap(([name, v]): [string, string, unknown[], Expect][] => [
    [`customer ${name}`, "decide", [v, "api", 1, T], { reason: "invalid_input" }],
    [`entitlement ${name}`, "decide", ["c1", v, 1, T], { reason: "invalid_input" }],
    [`customer ${name}`, "allow", [v, "api", 1, T], { returns: false }],
    [`customer ${name}`, "reserve", [v, "api", 1, T], { returns: null }],
    [`customer ${name}`, "usage", [v, "api", T], { throws: InputError }],
    [`customer ${name}`, "setPlan", [v, "free"], { throws: InputError }],
    [`plan ${name}`, "setPlan", ["c1", v], { throws: InputError }],
    [`event ${name}`, "record", [v], { throws: InputError }],
    [`event.customer ${name}`, "record", [{ type: "api.request", customer: v }], { throws: InputError }],
    [`hold ${name}`, "settle", [v, 1, T], { reason: "invalid_hold" }],
    [`hold ${name}`, "release", [v, T], { returns: false }],
    [`handler ${name}`, "on", ["denied", v], { throws: InputError }],
    [`event name ${name}`, "on", [v, () => {}], { throws: InputError }],
  ]),
  ["empty customer", "decide", ["", "api", 1, T], { reason: "invalid_input" }],
  ["undefined hold (a refused reserve's null)", "settle", [undefined, 1, T], { reason: "invalid_hold" }],
  ["undefined hold", "release", [undefined, T], { returns: false }],
  ...(["x", {}, null, Number.NaN, new Date(Number.NaN), Number.POSITIVE_INFINITY] as unknown[]).flatMap(
    (now): [string, string, unknown[], Expect][] => [
      [`now ${String(now)}`, "decide", ["c1", "api", 1, { now }], { reason: "invalid_input" }],
      [`now ${String(now)}`, "check", ["c1", "api", 1, { now }], { reason: "invalid_input" }],
      [`now ${String(now)}`, "reserve", ["c1", "api", 1, { now }], { returns: null }],
      [`now ${String(now)}`, "usage", ["c1", "api", { now }], { throws: InputError }],
    ],
  ),
  ...([5, {}, ["k"]] as unknown[]).map((id): [string, string, unknown[], Expect] => [
    `id ${JSON.stringify(id)}`,
    "decide",
    ["c1", "api", 1, { id, now: NOW }],
    { reason: "invalid_input" },
  ]),
  ...([5, "p", ["k"], null] as unknown[]).map((properties): [string, string, unknown[], Expect] => [
    `properties ${JSON.stringify(properties)}`,
    "decide",
    ["c1", "api", 1, { properties, now: NOW }],
    { reason: "invalid_input" },
  ]),
  ...([0, -1, Number.NaN, "60000", Number.POSITIVE_INFINITY] as unknown[]).map(
    (ttlMs): [string, string, unknown[], Expect] => [
      `ttlMs ${String(ttlMs)}`,
      "reserve",
      ["c1", "api", 1, { ttlMs, now: NOW }],
      { returns: null },
    ],
  ),
  [
    "a forged hold",
    "settle",
    [{ id: "h-forged-1", customer: "c1", entitlement: "api", amount: 1, expiresAt: NOW + 1 }, 1, T],
    { reason: "invalid_hold" },
  ],
  ["a negative actual", "settle", ["HOLD", -1, T], { reason: "invalid_amount" }],
  ["a string actual", "settle", ["HOLD", "3", T], { reason: "invalid_amount" }],
  ["NaN actual", "settle", ["HOLD", Number.NaN, T], { reason: "invalid_amount" }],
  [
    "event.value as text",
    "record",
    [{ type: "api.request", customer: "c1", value: "7" }],
    { throws: InputError },
  ],
  [
    "event.value NaN",
    "record",
    [{ type: "api.request", customer: "c1", value: Number.NaN }],
    { throws: InputError },
  ],
  ["event.id a number", "record", [{ type: "api.request", customer: "c1", id: 5 }], { throws: InputError }],
  [
    "event.properties a number",
    "record",
    [{ type: "api.request", customer: "c1", properties: 5 }],
    { throws: InputError },
  ],
  [
    "event.timestamp garbage",
    "record",
    [{ type: "api.request", customer: "c1", timestamp: "yesterday" }],
    { throws: InputError },
  ],
  [
    "event.timestamp an object",
    "record",
    [{ type: "api.request", customer: "c1", timestamp: {} }],
    { throws: InputError },
  ],
  ["null options", "decide", ["c1", "api", 1, null], { reason: "ok" }],
];

describe("SPEC §4 bad runtime input: a reason, a typed result or an InputError, never a TypeError", () => {
  it.each(cases)("%s: %s", async (_name, method, args, expected) => {
    const { limitr, store } = await fresh();
    const hold = limitr.reserve("c1", "api", 2, T) as Hold;
    const call = () => (limitr as Engine)[method]?.(...args.map((a) => (a === "HOLD" ? hold : a)));
    if ("throws" in expected) {
      expect(call).toThrow(expected.throws);
    } else {
      const out = call();
      if ("reason" in expected) expect((out as { reason: string }).reason).toBe(expected.reason);
      else expect(out).toStrictEqual(expected.returns);
    }
    await limitr.flush();
    const counted = method === "decide" && "reason" in expected && expected.reason === "ok" ? 1 : 0;
    expect(limitr.usage("c1", "api", T)).toMatchObject({ used: counted, held: 2 });
    expect(store.events()).toHaveLength(counted);
  });

  it("R8 settling twice counts once; a settled hold cannot be released; a hold of another engine is invalid_hold", async () => {
    const { limitr } = await fresh();
    const { limitr: other } = await fresh();
    const hold = limitr.reserve("c1", "api", 3, T) as Hold;
    expect(other.settle(hold, 3, T).reason).toBe("invalid_hold");
    expect(other.release(hold, T)).toBe(false);
    expect(limitr.settle(hold, 3, T)).toMatchObject({ allowed: true, reason: "ok", used: 3 });
    expect(limitr.settle(hold, 3, T)).toMatchObject({ allowed: true, reason: "duplicate", used: 3 });
    expect(limitr.release(hold, T)).toBe(false);
    expect(other.usage("c1", "api", T).used).toBe(0);
  });

  it("R8 a hold loaded from the store (issued before a restart) still settles", async () => {
    const store = new MemoryEngineStore();
    const first = await Limitr.open({ policy, store, now: () => NOW });
    const hold = first.reserve("c1", "api", 4, { ttlMs: 3_600_000 }) as Hold;
    await first.close();
    const second = await Limitr.open({ policy, store, now: () => NOW });
    engines.push(second);
    expect(second.settle(JSON.parse(JSON.stringify(hold)) as Hold, 4)).toMatchObject({
      reason: "ok",
      used: 4,
    });
  });
});
