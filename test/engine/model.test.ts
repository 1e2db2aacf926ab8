import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

/**
 * The engine against a plain model of R3 (hard/soft), R5 (refunds never go
 * below zero), R6 (calendar resets), R7 (a shared counter at the parent, under
 * the parent's terms), R13 (an id counts once) and plan changes, over random
 * call sequences with time jumps and restarts on the same store.
 */
const PLANS = {
  small: { api: 10, day: 5, team: 20 },
  big: { api: 50, day: 100, team: 40 },
} as const;
type Plan = keyof typeof PLANS;
type Ent = keyof (typeof PLANS)["small"];
const MODE: Record<Ent, "hard" | "soft"> = { api: "hard", day: "soft", team: "hard" };
const PERIOD: Record<Ent, "month" | "day"> = { api: "month", day: "day", team: "month" };

const policy = compilePolicy({
  limitr: 1,
  name: "model",
  timezone: "UTC",
  meters: {
    m_api: { event: "api.call", aggregation: "count" },
    m_day: { event: "day.call", aggregation: "count" },
    m_team: { event: "team.call", aggregation: "count" },
  },
  plans: Object.fromEntries(
    Object.entries(PLANS).map(([plan, limits]) => [
      plan,
      {
        default: plan === "small",
        entitlements: {
          api: { meter: "m_api", limit: limits.api, mode: "hard", period: "month" },
          day: { meter: "m_day", limit: limits.day, mode: "soft", period: "day" },
          team: { meter: "m_team", limit: limits.team, mode: "hard", period: "month", scope: "parent" },
        },
      },
    ]),
  ),
  customers: { org: {}, kid1: { parent: "org" }, kid2: { parent: "org" } },
});

const CUSTOMERS = ["org", "kid1", "kid2", "solo"] as const;
const PARENT: Record<string, string> = { kid1: "org", kid2: "org" };

type Op =
  | { op: "allow"; customer: string; ent: Ent; amount: number; id: string | undefined }
  | { op: "wait"; ms: number }
  | { op: "plan"; customer: string; plan: Plan; in: number }
  | { op: "restart" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("allow" as const),
      customer: fc.constantFrom(...CUSTOMERS),
      ent: fc.constantFrom<Ent>("api", "day", "team"),
      amount: fc.integer({ min: -3, max: 8 }),
      id: fc.option(fc.constantFrom("r1", "r2", "r3", "r4"), { nil: undefined }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("wait" as const),
      ms: fc.constantFrom(60_000, 6 * 3_600_000, 2 * 86_400_000, 20 * 86_400_000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("plan" as const),
      customer: fc.constantFrom(...CUSTOMERS),
      plan: fc.constantFrom<Plan>("small", "big"),
      // From now on, or from a later instant (the engine switches when time gets there).
      in: fc.constantFrom(0, 3_600_000, 3 * 86_400_000),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "restart" as const }) },
);

function windowStart(ent: Ent, t: number): number {
  const d = new Date(t);
  return PERIOD[ent] === "day"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

class Model {
  /** Plan changes per customer, in effective order. */
  private readonly plans = new Map<string, { at: number; plan: Plan }[]>();
  private readonly counters = new Map<string, { used: number; start: number }>();
  private readonly seen = new Set<string>();

  owner(customer: string, ent: Ent): string {
    return ent === "team" ? (PARENT[customer] ?? customer) : customer;
  }

  planAt(customer: string, now: number): Plan {
    let plan: Plan = "small";
    for (const c of this.plans.get(customer) ?? []) if (c.at <= now) plan = c.plan;
    return plan;
  }

  limit(customer: string, ent: Ent, now: number): number {
    return PLANS[this.planAt(this.owner(customer, ent), now)][ent];
  }

  used(customer: string, ent: Ent, now: number): number {
    const c = this.counters.get(`${ent}|${this.owner(customer, ent)}`);
    return c === undefined || c.start !== windowStart(ent, now) ? 0 : c.used;
  }

  allow(customer: string, ent: Ent, amount: number, id: string | undefined, now: number): boolean {
    if (id !== undefined && this.seen.has(id)) return true;
    const used = this.used(customer, ent, now);
    if (amount > 0 && MODE[ent] === "hard" && used + amount > this.limit(customer, ent, now)) return false;
    if (amount !== 0) {
      const key = `${ent}|${this.owner(customer, ent)}`;
      this.counters.set(key, { used: Math.max(used + amount, 0), start: windowStart(ent, now) });
      if (id !== undefined) this.seen.add(id);
    }
    return true;
  }

  setPlan(customer: string, plan: Plan, at: number): void {
    const list = (this.plans.get(customer) ?? []).filter((c) => c.at !== at);
    list.push({ at, plan });
    list.sort((a, b) => a.at - b.at);
    this.plans.set(customer, list);
  }
}

type Store = MemoryEngineStore | `sqlite:${string}`;

async function open(store: Store, durability: "batched" | "sync"): Promise<Limitr> {
  return Limitr.open({ policy, store, durability, alerts: false, batch: { maxEvents: 7 }, planPollMs: 0 });
}

/** Run `ops` on an engine and the model side by side; every call's answer and every counter must agree. */
async function agree(ops: Op[], store: Store, durability: "batched" | "sync"): Promise<void> {
  const model = new Model();
  let engine = await open(store, durability);
  let now = Date.UTC(2026, 9, 30, 20);
  try {
    for (const o of ops) {
      if (o.op === "wait") now += o.ms;
      else if (o.op === "plan") {
        engine.setPlan(o.customer, o.plan, { at: now + o.in });
        model.setPlan(o.customer, o.plan, now + o.in);
      } else if (o.op === "restart") {
        await engine.close();
        engine = await open(store, durability);
      } else {
        const options = o.id === undefined ? { now } : { now, id: o.id };
        expect(engine.allow(o.customer, o.ent, o.amount, options)).toBe(
          model.allow(o.customer, o.ent, o.amount, o.id, now),
        );
      }
      for (const c of CUSTOMERS) {
        for (const ent of ["api", "day", "team"] as const) {
          const u = engine.usage(c, ent, { now });
          expect({ c, ent, used: u.used, limit: u.limit }).toEqual({
            c,
            ent,
            used: model.used(c, ent, now),
            limit: model.limit(c, ent, now),
          });
        }
      }
    }
  } finally {
    await engine.close();
  }
}

const ops = fc.array(opArb, { minLength: 1, maxLength: 80 });

describe("the engine agrees with a plain model of its rules", () => {
  it("R3 R5 R6 R7 R13 over random calls, time jumps, plan changes and restarts (memory store)", async () => {
    await fc.assert(
      fc.asyncProperty(ops, (o) => agree(o, new MemoryEngineStore(), "batched")),
      { numRuns: 150 },
    );
  });

  it("R3 R5 R6 R7 R13 the same on SQLite files, batched and sync", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limitr-model-"));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(ops, fc.constantFrom<"batched" | "sync">("batched", "sync"), (o, durability) =>
          agree(o, `sqlite:${join(dir, `run-${n++}.db`)}`, durability),
        ),
        { numRuns: 30 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
