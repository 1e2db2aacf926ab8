import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolvePolicyTree } from "../../src/engine/core/policy/tree.js";

/** File names in the order of `localeCompare`, as the tree has always read them. */
const byCollator = (names: string[]) => names.map((n) => `${n}.yaml`).sort((a, b) => a.localeCompare(b));
const readOrder = (names: string[]) =>
  resolvePolicyTree(names.map((n) => ({ path: `${n}.yaml`, kind: "file" as const }))).files.map(
    (f) => f.path,
  );

describe("the order a policy directory's files are read in", () => {
  it("names of lower-case letters, digits, - and . are read in the default locale's collation order", () => {
    const plain = fc.stringMatching(/^[a-z0-9.-]{1,10}$/);
    fc.assert(
      fc.property(fc.uniqueArray(plain, { minLength: 2, maxLength: 12 }), (names) => {
        expect(readOrder(names)).toEqual(byCollator(names));
      }),
      { numRuns: 500 },
    );
    expect(readOrder(["plans", "10-base", "9-base", "plans-eu", "plans.eu", "plans2", "a"])).toEqual(
      byCollator(["plans", "10-base", "9-base", "plans-eu", "plans.eu", "plans2", "a"]),
    );
  });

  it("any other name is compared by the collator (upper case, _, accents)", () => {
    const names = ["Plans", "plans", "b_x", "b-x", "éte", "ete", "zz", "Zz"];
    expect(readOrder(names)).toEqual(byCollator(names));
  });
});
