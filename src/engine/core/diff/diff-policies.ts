import type { CompiledPolicy } from "../model.js";
import { classify } from "./breaking.js";
import type { DiffSummary, PolicyChange, PolicyDiff } from "./types.js";
import { pathString, resourceOf, structuralChanges } from "./walk.js";

/**
 * Semantic diff of two compiled policies: what changed in plans,
 * entitlements, meters, prices, contracts, alerts and channels, each change
 * with its before and after value and whether it is BREAKING for customers
 * (see `breaking.ts`). Pure: compares models, never YAML text, so moving a
 * plan to another file or reformatting it is not a change.
 *
 * @example
 *   const { changes, summary } = diffPolicies(compiledAtMain, compiledInWorkTree);
 *   if (summary.breaking > 0) console.log(changes.filter((c) => c.breaking));
 */
export function diffPolicies(base: CompiledPolicy, head: CompiledPolicy): PolicyDiff {
  const changes: PolicyChange[] = structuralChanges(base, head).map((raw) => {
    const verdict = classify(raw, base, head);
    return {
      kind: raw.kind,
      path: pathString(raw.segments),
      segments: raw.segments,
      resource: pathString(resourceOf(raw.segments)),
      before: raw.before,
      after: raw.after,
      breaking: verdict.breaking,
      reason: verdict.reason,
    };
  });
  return { changes, summary: summarize(changes) };
}

/** A resource counts once: added or removed when the change is the resource itself, changed otherwise. */
export function summarize(changes: PolicyChange[]): DiffSummary {
  const status = new Map<string, "add" | "remove" | "change">();
  for (const c of changes) {
    const whole = c.path === c.resource;
    status.set(c.resource, whole && c.kind !== "change" ? c.kind : (status.get(c.resource) ?? "change"));
  }
  const count = (k: string) => [...status.values()].filter((s) => s === k).length;
  return {
    add: count("add"),
    change: count("change"),
    remove: count("remove"),
    breaking: changes.filter((c) => c.breaking).length,
  };
}

/** Changes grouped by resource, in first-seen order. */
export function groupByResource(changes: PolicyChange[]): Map<string, PolicyChange[]> {
  const groups = new Map<string, PolicyChange[]>();
  for (const c of changes) {
    const list = groups.get(c.resource) ?? [];
    list.push(c);
    groups.set(c.resource, list);
  }
  return groups;
}
