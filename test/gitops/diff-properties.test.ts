import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../src/engine/core/compile.js";
import { diffPolicies } from "../../src/engine/core/diff/diff-policies.js";

/** A small policy whose numbers vary: one plan with an overage entitlement, one optional flag, one customer. */
const arbPolicy = fc
  .record({
    price: fc.integer({ min: 0, max: 500 }),
    limit: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: null }),
    overage: fc.integer({ min: 1, max: 90 }).map((n) => `0.000${n}`),
    mode: fc.constantFrom("hard", "soft", "observe"),
    flag: fc.option(fc.boolean(), { nil: undefined }),
    credit: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
  })
  .map((v) =>
    compilePolicy({
      limitr: 1,
      name: "p",
      meters: { tokens: { event: "llm", aggregation: "sum", property: "n" } },
      plans: {
        pro: {
          price: v.price,
          entitlements: {
            chat: { meter: "tokens", limit: v.limit, mode: v.mode, overage: v.overage },
            ...(v.flag === undefined ? {} : { export_pdf: v.flag }),
          },
        },
      },
      customers: { acme: { plan: "pro", credits: v.credit === undefined ? [] : [{ amount: v.credit }] } },
    }),
  );

describe("semantic diff properties", () => {
  it("a policy never differs from itself", () => {
    fc.assert(fc.property(arbPolicy, (p) => diffPolicies(p, structuredClone(p)).changes.length === 0));
  });

  it("diff(b, a) is diff(a, b) reversed: same paths, add and remove swapped, values swapped", () => {
    fc.assert(
      fc.property(arbPolicy, arbPolicy, (a, b) => {
        const forward = diffPolicies(a, b).changes;
        const backward = diffPolicies(b, a).changes;
        expect(backward.map((c) => c.path)).toEqual(forward.map((c) => c.path));
        const swap = { add: "remove", remove: "add", change: "change" } as const;
        for (const [i, f] of forward.entries()) {
          expect(backward[i]).toMatchObject({ kind: swap[f.kind], before: f.after, after: f.before });
        }
      }),
    );
  });

  it("a limit change is breaking exactly when the new limit is lower", () => {
    fc.assert(
      fc.property(arbPolicy, arbPolicy, (a, b) => {
        const change = diffPolicies(a, b).changes.find((c) => c.path === "plans.pro.entitlements.chat.limit");
        if (!change) return;
        const before = change.before as number | null;
        const after = change.after as number | null;
        expect(change.breaking).toBe(after !== null && (before === null || after < before));
      }),
    );
  });

  it("the summary counts every breaking change", () => {
    fc.assert(
      fc.property(arbPolicy, arbPolicy, (a, b) => {
        const d = diffPolicies(a, b);
        expect(d.summary.breaking).toBe(d.changes.filter((c) => c.breaking).length);
      }),
    );
  });
});
