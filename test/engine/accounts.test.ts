import { describe, expect, it } from "vitest";
import { scopeOwner } from "../../src/engine/core/accounts.js";
import type { CompiledCustomer } from "../../src/engine/core/model.js";

const customer = (id: string, parent: string | null): CompiledCustomer => ({
  id,
  plan: null,
  parent,
  since: null,
  metadata: {},
  overrides: {},
  discounts: [],
  credits: [],
});

/** c0 <- c1 <- ... <- c(n-1): each customer's parent is the one before it. */
function chain(n: number): Record<string, CompiledCustomer> {
  const out: Record<string, CompiledCustomer> = {};
  for (let i = 0; i < n; i++) out[`c${i}`] = customer(`c${i}`, i === 0 ? null : `c${i - 1}`);
  return out;
}

describe("R7 scope owners in the account tree", () => {
  it("R7 scope root is the root however deep the tree (validation accepts chains of thousands)", () => {
    const customers = chain(500);
    expect(scopeOwner(customers, "c499", "root")).toBe("c0");
    expect(scopeOwner(customers, "c70", "root")).toBe("c0");
    expect(scopeOwner(customers, "c499", "parent")).toBe("c498");
    expect(scopeOwner(customers, "c499", "customer")).toBe("c499");
  });

  it("R7 a parent cycle in an unvalidated compiled policy ends the walk instead of hanging", () => {
    const customers = chain(100);
    (customers.c0 as CompiledCustomer).parent = "c99";
    expect(typeof scopeOwner(customers, "c50", "root")).toBe("string");
  });
});
