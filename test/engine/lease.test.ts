import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  demandRate,
  LEASE_DEFAULTS,
  LeaseLedger,
  type LeaseParams,
  leaseSlice,
} from "../../src/engine/core/engine/lease.js";

const PARAMS: LeaseParams = { ...LEASE_DEFAULTS, maxSlice: 40, horizonMs: 1000, ttlMs: 900 };

type Op =
  | { kind: "acquire"; h: number; need: number; rate: number }
  | { kind: "consume"; h: number; units: number }
  | { kind: "report"; h: number; giveBack: number }
  | { kind: "release"; h: number }
  | { kind: "crash"; h: number }
  | { kind: "wait"; ms: number };

const HOLDERS = 4;
const holder = fc.integer({ min: 0, max: HOLDERS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("acquire" as const),
    h: holder,
    need: fc.integer({ min: 0, max: 12 }),
    rate: fc.integer({ min: 0, max: 200 }),
  }),
  fc.record({ kind: fc.constant("consume" as const), h: holder, units: fc.integer({ min: 1, max: 15 }) }),
  fc.record({ kind: fc.constant("report" as const), h: holder, giveBack: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant("release" as const), h: holder }),
  fc.record({ kind: fc.constant("crash" as const), h: holder }),
  fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 400 }) }),
);

/** A holder as an engine would run it: it allows only from its allowance, until its lease's deadline. */
interface Holder {
  allowance: number;
  unreported: number;
  deadline: number;
}

/**
 * Runs ops against one pool; returns what was allowed in total and the
 * consumption lost with crashed or lapsed holders (allowed, never reported).
 */
function run(limit: number, ops: Op[], reportEachConsume: boolean) {
  const pool = new LeaseLedger(PARAMS);
  const holders: Holder[] = Array.from({ length: HOLDERS }, () => ({
    allowance: 0,
    unreported: 0,
    deadline: 0,
  }));
  let now = 1_000;
  let allowed = 0;
  let lost = 0;
  // A crashed holder comes back as a new process: a new holder id.
  const generation = holders.map(() => 0);
  const id = (h: number) => `h${h}.${generation[h]}`;
  const lapse = (x: Holder) => {
    lost += x.unreported;
    x.allowance = 0;
    x.unreported = 0;
  };
  let reported = 0;
  /** Leases of crashed holders: in the pool until they expire. */
  const crashed: Holder[] = [];
  const check = (touchedPool: boolean) => {
    const t = pool.totals();
    expect(t.consumed + t.outstanding).toBeLessThanOrEqual(limit + 1e-9);
    expect(allowed).toBeLessThanOrEqual(limit + lost + 1e-9);
    if (!touchedPool) return;
    // The pool's books match the holders exactly: expired leases are reclaimed by every call.
    expect(t.consumed).toBe(reported);
    const live = [...holders, ...crashed].filter((x) => x.deadline > now);
    expect(t.outstanding).toBe(live.reduce((sum, x) => sum + x.allowance + x.unreported, 0));
  };
  for (const o of ops) {
    if (o.kind === "wait") now += o.ms;
    // A holder never decides from a lease past its deadline: it is as good as crashed.
    for (const x of holders) if (x.deadline <= now && (x.allowance > 0 || x.unreported > 0)) lapse(x);
    if (o.kind === "wait") continue;
    const x = holders[o.h]!;
    // Whether this op called the pool (which reclaims expired leases first).
    let touched = o.kind !== "consume" && o.kind !== "crash";
    if (o.kind === "acquire") {
      // check() below pins that the grant stayed within the remainder: consumed + outstanding <= limit.
      const r = pool.acquire({
        holder: id(o.h),
        now,
        limit,
        consumed: x.unreported,
        need: o.need,
        rate: o.rate,
      });
      reported += x.unreported;
      expect(r.granted).toBeGreaterThanOrEqual(0);
      if (o.need > 0 && r.granted > 0) expect(r.granted).toBeGreaterThanOrEqual(o.need);
      x.unreported = 0;
      x.allowance += r.granted;
      expect(r.allowance).toBe(x.allowance);
      if (r.allowance > 0) x.deadline = now + PARAMS.ttlMs;
    } else if (o.kind === "consume") {
      if (x.allowance + 1e-9 >= o.units) {
        x.allowance -= o.units;
        x.unreported += o.units;
        allowed += o.units;
        if (reportEachConsume) {
          touched = true;
          pool.report(id(o.h), x.unreported, 0, now);
          reported += x.unreported;
          x.unreported = 0;
          x.deadline = now + PARAMS.ttlMs;
        }
      }
    } else if (o.kind === "report") {
      const r = pool.report(id(o.h), x.unreported, o.giveBack, now);
      reported += x.unreported;
      x.unreported = 0;
      expect(r.returned).toBe(Math.min(o.giveBack, x.allowance));
      x.allowance -= r.returned;
      expect(r.allowance).toBe(x.allowance);
      if (x.allowance > 0) x.deadline = now + PARAMS.ttlMs;
    } else if (o.kind === "release") {
      const before = pool.totals();
      const unreported = x.unreported;
      const r = pool.release(id(o.h), unreported, now);
      reported += unreported;
      // A released lease returns exactly its unconsumed part.
      expect(r.returned).toBe(x.allowance);
      expect(r.allowance).toBe(0);
      expect(pool.totals().consumed).toBe(before.consumed + unreported);
      x.allowance = 0;
      x.unreported = 0;
    } else {
      if (x.deadline > now) crashed.push({ ...x });
      lapse(x);
      x.deadline = 0;
      generation[o.h]! += 1;
    }
    check(touched);
  }
  return { pool, allowed, lost, now, holders, id };
}

describe("R16 quota leases: the lease maths", () => {
  it("R16 a slice never exceeds the remainder, is exact when the remainder is below a slice, and shrinks with it", () => {
    const input = fc.record({
      remainder: fc.oneof(
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1000, noNaN: true }),
      ),
      holders: fc.integer({ min: 1, max: 64 }),
      rate: fc.double({ min: 0, max: 1e6, noNaN: true }),
      need: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0, max: 50, noNaN: true }),
      ),
      held: fc.integer({ min: 0, max: 2000 }),
    });
    fc.assert(
      fc.property(input, (i) => {
        const s = leaseSlice(i, LEASE_DEFAULTS);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(i.remainder);
        if (s === 0) {
          // Nothing granted: the remainder cannot serve the call, or a refill found nothing to spread.
          expect(i.remainder === 0 || i.need - i.remainder > 1e-9 || i.need === 0).toBe(true);
        } else if (s > i.need) {
          // Beyond what the call needs, a holder takes at most half its fair share and stays under maxSlice.
          expect(s).toBeLessThanOrEqual(i.remainder / (2 * i.holders));
          expect(i.held + s).toBeLessThanOrEqual(LEASE_DEFAULTS.maxSlice);
        } else if (i.need > 0) {
          expect(s).toBeCloseTo(Math.min(i.need, i.remainder), 9);
        }
        // Monotone: less remainder never means a bigger slice.
        if (i.remainder >= 1)
          expect(leaseSlice({ ...i, remainder: i.remainder / 2 }, LEASE_DEFAULTS)).toBeLessThanOrEqual(s);
      }),
    );
  });

  it("R16 the slice grows with demand up to the cap", () => {
    // remainder / (spread * holders) = 30: below the demands looked at.
    const at = (rate: number) =>
      leaseSlice({ remainder: 9_000, holders: 3, rate, need: 0, held: 0 }, LEASE_DEFAULTS);
    expect(at(0)).toBe(30);
    expect(at(120)).toBe(120);
    expect(at(600)).toBe(600);
    expect(at(1e6)).toBe(LEASE_DEFAULTS.maxSlice);
    const few = (rate: number) =>
      leaseSlice({ remainder: 1e9, holders: 3, rate, need: 0, held: 0 }, { ...LEASE_DEFAULTS, spread: 1e9 });
    expect(few(0)).toBe(LEASE_DEFAULTS.minSlice);
    expect(few(120)).toBe(120);
  });

  it("R16 a large remainder gives a large slice whatever the demand, shrinking with the remainder", () => {
    const p = LEASE_DEFAULTS;
    const at = (remainder: number, holders: number, held = 0) =>
      leaseSlice({ remainder, holders, rate: 0, need: 0, held }, p);
    // Far from the limit: the most one holder holds, less what it holds.
    expect(at(1e9, 4)).toBe(p.maxSlice);
    expect(at(1e9, 4, 900)).toBe(100);
    // remainder / (spread * holders), as the remainder shrinks.
    expect(at(200_000, 4)).toBe(500);
    expect(at(20_000, 4)).toBe(50);
    expect(at(2_000, 4)).toBe(5);
    expect(at(200, 4)).toBe(p.minSlice);
    // Eight holders each taking it: stranded <= holders x maxSlice, and at most 1 / spread of the remainder.
    let remainder = 1e5;
    for (let h = 0; h < 8; h++) remainder -= at(remainder, 8);
    expect(1e5 - remainder).toBeLessThanOrEqual(Math.min(8 * p.maxSlice, 1e5 / p.spread));
  });

  it("R16 the last units are spread: a refill takes none of them, each call gets exactly what it needs", () => {
    const p = LEASE_DEFAULTS;
    expect(leaseSlice({ remainder: 7, holders: 4, rate: 500, need: 0, held: 0 }, p)).toBe(0);
    expect(leaseSlice({ remainder: 7, holders: 4, rate: 500, need: 2, held: 0 }, p)).toBe(2);
    expect(leaseSlice({ remainder: 7, holders: 4, rate: 500, need: 8, held: 0 }, p)).toBe(0);
    expect(leaseSlice({ remainder: 80, holders: 4, rate: 500, need: 1, held: 0 }, p)).toBe(10);
  });
});

describe("R16 quota leases: interleavings across holders", () => {
  const limit = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 300 }));
  const ops = fc.array(op, { minLength: 1, maxLength: 120 });

  it("R16 holders that report what they allow never allow more than the limit in total", () => {
    fc.assert(
      fc.property(limit, ops, (l, o) => {
        const { allowed, lost } = run(l, o, true);
        expect(lost).toBe(0);
        expect(allowed).toBeLessThanOrEqual(l);
      }),
      { numRuns: 300 },
    );
  });

  it("R16 with crashes and lapsed leases, the overshoot is at most what the lost holders allowed since their last report", () => {
    fc.assert(
      fc.property(limit, ops, (l, o) => {
        const { pool, allowed, lost, now, holders, id } = run(l, o, false);
        expect(allowed).toBeLessThanOrEqual(l + lost);
        // Every holder lets go (live ones release, the rest expire): nothing is stranded.
        holders.forEach((x, h) => {
          if (x.deadline > now) pool.release(id(h), x.unreported, now);
        });
        pool.acquire({ holder: "late", now: now + PARAMS.ttlMs, limit: l, consumed: 0, need: 0, rate: 0 });
        pool.release("late", 0, now + PARAMS.ttlMs);
        const t = pool.totals();
        expect(t.outstanding).toBe(0);
        expect(t.holders).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("R16 an expired lease returns exactly its unreported allowance to the next acquire", () => {
    const pool = new LeaseLedger(PARAMS);
    const a = pool.acquire({ holder: "a", now: 0, limit: 100, consumed: 0, need: 5, rate: 30 });
    pool.report("a", 12, 0, 100);
    const b = pool.acquire({ holder: "b", now: 200, limit: 100, consumed: 0, need: 1, rate: 0 });
    expect(b.remainder).toBe(100 - 12 - (a.granted - 12) - b.granted);
    // a's lease (renewed at 100) expires at 100 + ttl; b renews at the same instant.
    const later = 100 + PARAMS.ttlMs;
    const c = pool.acquire({ holder: "b", now: later, limit: 100, consumed: 0, need: 0, rate: 0 });
    expect(c.remainder + c.allowance).toBe(100 - 12);
    expect(pool.totals()).toEqual({ limit: 100, consumed: 12, outstanding: c.allowance, holders: 1 });
  });
});

describe("R16 quota leases: demand", () => {
  it("the first measurement is the rate; later ones move it halfway per half-life", () => {
    const first = demandRate(0, 100, 50, 250);
    expect(first).toBe(2_000);
    expect(demandRate(first, 0, 250, 250)).toBe(1_000);
    expect(demandRate(first, 1_000, 250, 250)).toBe(3_000);
    expect(demandRate(first, 5, 0, 250)).toBe(first);
  });
});
