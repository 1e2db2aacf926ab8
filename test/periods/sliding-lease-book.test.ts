import { describe, expect, it } from "vitest";
import { CounterTable } from "../../src/engine/core/engine/counter.js";
import { LEASE_DEFAULTS } from "../../src/engine/core/engine/lease.js";
import { periodClock } from "../../src/engine/core/engine/period-clock.js";
import { LIFETIME } from "../../src/engine/core/periods.js";
import { LeaseBook } from "../../src/engine/runtime/lease-holder.js";

/**
 * The lease book's side of a sliding window (no Redis: the replies are made
 * up here): a lease serves only calls dated in its bucket, a new bucket gives
 * the old lease back, and at most one call per lease is ever in flight.
 */
const B = 1_000;
const T = 1_800_000_000_000;

function book() {
  const table = new CounterTable();
  const c = table.add("api|acme", "acme", "api", LIFETIME);
  c.clock = periodClock({ sliding: "PT1M", slidingMs: 60_000 });
  c.clock?.enter(c, T);
  const b = new LeaseBook(table, LEASE_DEFAULTS, 0, 1_000, () => T);
  return { b, cid: c.id };
}

const grant = (allowance: number) => ({
  granted: allowance,
  allowance,
  remainder: 100,
  holders: 1,
  expiresAt: 0,
});

describe("LeaseBook on a sliding window", () => {
  it("a lease covers only calls dated in its bucket; the next bucket gives it back with its usage", () => {
    const { b, cid } = book();
    expect(b.covers(cid, 1, 10, T)).toBe(false);
    const job = b.acquireJob(cid, 1, T) as NonNullable<ReturnType<LeaseBook["acquireJob"]>>;
    expect(job.pool).toMatchObject({
      periodStart: T,
      periodEnd: T + B,
      window: { bucketMs: B, buckets: 60 },
    });
    b.acquired(job, grant(5), T);
    expect(b.covers(cid, 1, 10, T + 999)).toBe(true);
    b.spend(cid, 1);
    // A call dated before the lease's bucket is denied without asking.
    expect(b.covers(cid, 1, 10, T - 1)).toBe(false);
    expect(b.denial).toBe("limit_exceeded");
    // The next bucket: the old lease goes back with the unit spent in it.
    expect(b.covers(cid, 1, 10, T + B)).toBe(false);
    expect(b.orphans).toEqual([
      expect.objectContaining({ cid: -1, period: T, consumed: 1, giveBack: Infinity }),
    ]);
    expect(b.pools[cid]).toMatchObject({ periodStart: T + B });
  });

  it("a grant that lands after its bucket turned goes back as an orphan whose reply leaves the next call's busy flag alone", () => {
    const { b, cid } = book();
    b.covers(cid, 1, 10, T);
    const first = b.acquireJob(cid, 1, T) as NonNullable<ReturnType<LeaseBook["acquireJob"]>>;
    // The bucket turns while the acquire is out.
    expect(b.covers(cid, 1, 10, T + B)).toBe(false);
    b.acquired(first, grant(5), T);
    const late = b.orphans.at(-1);
    expect(late).toMatchObject({ cid: -1, period: T, giveBack: Infinity });
    // The new bucket's acquire goes out; the orphan's reply must not mark the counter idle.
    expect(b.covers(cid, 1, 10, T + B)).toBe(false);
    b.acquireJob(cid, 1, T);
    expect(b.busy[cid]).toBe(1);
    b.reported(
      late as NonNullable<typeof late>,
      { returned: 5, allowance: 0, remainder: 100, holders: 0, expiresAt: 0 },
      T,
    );
    expect(b.busy[cid]).toBe(1);
    expect(b.covers(cid, 1, 10, T + B)).toBe(false);
    expect(b.denial).toBe("lease_pending");
  });

  it("a lease whose bucket the engine's clock has left is given back at the next tick", () => {
    const table = new CounterTable();
    const c = table.add("api|acme", "acme", "api", LIFETIME);
    c.clock = periodClock({ sliding: "PT1M", slidingMs: 60_000 });
    c.clock?.enter(c, T);
    let now = T;
    const b = new LeaseBook(table, LEASE_DEFAULTS, 0, 1_000, () => now);
    b.covers(c.id, 1, 10, T);
    b.acquired(b.acquireJob(c.id, 1, T) as NonNullable<ReturnType<LeaseBook["acquireJob"]>>, grant(5), T);
    b.covers(c.id, 2, 10, T);
    b.spend(c.id, 2);
    const jobs: Parameters<LeaseBook["due"]>[1] = [];
    b.due(Date.now(), jobs);
    expect(jobs).toEqual([]);
    now = T + B;
    b.due(Date.now(), jobs);
    expect(jobs).toEqual([
      expect.objectContaining({ cid: c.id, period: T, consumed: 2, giveBack: Infinity }),
    ]);
    expect(b.held()).toMatchObject({ leases: 0, sliding: 0 });
  });
});
