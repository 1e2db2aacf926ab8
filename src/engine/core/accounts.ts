import type { CompiledCustomer, Scope } from "./model.js";

/**
 * The customer whose counter a `scope` charges (R7): the customer itself,
 * its parent, or the root of its account tree. Rating bills shared usage to
 * this account and the engine keeps the shared counter under it.
 * The walk is bounded: validation rejects cycles, but an unvalidated
 * in-memory policy must not hang a caller.
 */
export function scopeOwner(
  customers: Record<string, CompiledCustomer>,
  customer: string,
  scope: Scope,
): string {
  if (scope === "customer") return customer;
  let current = customer;
  // Validation refuses parent cycles, but a compiled policy handed straight to the
  // engine is not validated: a walk longer than the number of customers is a cycle.
  let bound = Number.POSITIVE_INFINITY;
  for (let depth = 0; depth <= bound; depth++) {
    if (depth === 64) bound = Object.keys(customers).length;
    const parent = customers[current]?.parent ?? null;
    if (parent === null) return current;
    current = parent;
    if (scope === "parent") return current;
  }
  return current;
}
