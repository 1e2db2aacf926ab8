import { describe, expect, it } from "vitest";
import { type LargePolicyShape, largePolicy } from "../../bench/large-policy.js";
import { validatePolicyFiles } from "../../src/engine/core/policy/validate.js";
import { Limitr } from "../../src/engine/index.js";

/**
 * CPU time of `work` in this process, the best of three runs: other processes
 * on a shared machine stretch wall time, not the CPU this work takes.
 */
async function seconds(work: () => unknown): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const t = process.cpuUsage();
    await work();
    const used = process.cpuUsage(t);
    best = Math.min(best, used.user + used.system);
  }
  return best / 1e6;
}

function validate(shape: LargePolicyShape) {
  const text = largePolicy(shape);
  return () => {
    const r = validatePolicyFiles([{ path: "limitr.yaml", text }]);
    if (!r.policy) throw new Error(JSON.stringify(r.diagnostics.slice(0, 3)));
    return r.policy;
  };
}

/**
 * Four times the policy must take well under sixteen times as long (what a
 * quadratic pass would): validation and compile are linear, or n log n.
 */
const FOUR_FOLD_LIMIT = 8;

describe("validation scales linearly with the policy size", () => {
  it.each<[string, (n: number) => LargePolicyShape, number]>([
    ["customers", (n) => ({ customers: n }), 1_500],
    ["plans", (n) => ({ plans: n }), 1_000],
    ["a parent chain", (n) => ({ chain: n }), 1_250],
  ])(
    "validate: four times the %s take well under sixteen times as long",
    async (_what, shape, n) => {
      validate(shape(n))(); // warm the JIT and the schema compiler
      const small = await seconds(validate(shape(n)));
      const large = await seconds(validate(shape(4 * n)));
      expect(large / small, `${n}: ${small.toFixed(3)} s, ${4 * n}: ${large.toFixed(3)} s`).toBeLessThan(
        FOUR_FOLD_LIMIT,
      );
    },
    300_000,
  );

  it("Limitr.open of a compiled policy with a 2,500-deep parent chain and 10,000 customers", async () => {
    const small = validate({ customers: 2_500, chain: 625 })();
    const large = validate({ customers: 10_000, chain: 2_500 })();
    const open = (policy: typeof small) => async () =>
      (await Limitr.open({ policy, store: "memory" })).close();
    await open(small)();
    const t1 = await seconds(open(small));
    const t4 = await seconds(open(large));
    expect(t4 / t1, `${t1.toFixed(3)} s -> ${t4.toFixed(3)} s`).toBeLessThan(FOUR_FOLD_LIMIT);
  }, 300_000);

  /**
   * Twice the customers in one file whose last customer repeats an id must
   * take well under four times as long: the section-by-section parse fails
   * and the whole file is parsed again to report it, at its line. (A valid
   * file's growth is the four-fold customers case above.)
   */
  it.each<[string, (n: number) => string]>([
    [
      "a policy whose last customer repeats an id",
      (n) => `${largePolicy({ customers: n })}  customer-0: {}\n`,
    ],
  ])(
    "validate: twice the customers of %s take well under four times as long",
    async (what, make) => {
      const run = (text: string) => () => validatePolicyFiles([{ path: "limitr.yaml", text }]);
      const small = make(2_000);
      const large = make(4_000);
      await seconds(run(small));
      const t1 = await seconds(run(small));
      const t2 = await seconds(run(large));
      expect(t2 / t1, `${what}: ${t1.toFixed(3)} s -> ${t2.toFixed(3)} s`).toBeLessThan(TWO_FOLD_LIMIT);
      const last = run(large)().diagnostics;
      if (what.includes("repeats")) {
        const lines = large.split("\n").length - 1;
        expect(last.map((d) => [d.code, d.line])).toEqual([["yaml/syntax", lines]]);
        expect(last[0]?.message).toContain('duplicate key "customer-0" in customers');
      } else expect(last).toEqual([]);
    },
    300_000,
  );
});

/** Twice the policy: a linear pass takes twice as long, a quadratic one four times. */
const TWO_FOLD_LIMIT = 3;
