import type { CompiledPolicy, IsoDate } from "../model.js";
import { isoDate, startOfDate } from "../periods.js";
import { dayAlignedChanges, type PlanChange } from "./timeline.js";

/**
 * Which plan a customer is on, over time (R1): a contract plan in the policy
 * wins; else the store's plan history; else the default plan. Before a
 * self-serve customer's first recorded plan they are on the default plan,
 * implicitly: usage is rated under it, no fee is billed (no subscription).
 */
export type PlanSource = "policy" | "store" | "default";

export interface CustomerPlans {
  changes: PlanChange[];
  source: PlanSource;
  /** Anniversary origin: contract `since`, else the first recorded plan's day. */
  since: IsoDate | null;
  /** First day on each plan (trial start), when known. */
  trialStart: Record<string, number>;
}

/** The earliest representable instant: "since forever". */
export const BEGINNING = -8.64e15;

export function customerPlans(
  policy: CompiledPolicy,
  customer: string,
  history: { at: number; plan: string; addOns?: readonly string[] }[] | undefined,
): CustomerPlans | null {
  const zone = policy.timezone;
  const contract = policy.customers[customer];
  if (contract?.plan) {
    const at = contract.since ? startOfDate(contract.since, zone) : BEGINNING;
    const addOns = contract.addOns ?? [];
    const trialStart: Record<string, number> = {};
    if (contract.since) for (const id of [contract.plan, ...addOns]) trialStart[id] = at;
    return {
      changes: [addOns.length > 0 ? { at, plan: contract.plan, addOns } : { at, plan: contract.plan }],
      source: "policy",
      since: contract.since,
      trialStart,
    };
  }
  if (history && history.length > 0) {
    const recorded = dayAlignedChanges(history, zone);
    const first = recorded[0] as PlanChange;
    const trialStart: Record<string, number> = {};
    for (const c of recorded) for (const id of [c.plan, ...(c.addOns ?? [])]) trialStart[id] ??= c.at;
    const changes =
      policy.defaultPlan && first.plan !== policy.defaultPlan
        ? [{ at: BEGINNING, plan: policy.defaultPlan, implicit: true }, ...recorded]
        : recorded;
    return { changes, source: "store", since: contract?.since ?? isoDate(first.at, zone), trialStart };
  }
  if (!policy.defaultPlan) return null;
  return {
    changes: [{ at: BEGINNING, plan: policy.defaultPlan, implicit: true }],
    source: "default",
    since: contract?.since ?? null,
    trialStart: {},
  };
}

/** The plan in force at `ms`, or null. */
export function planAt(plans: CustomerPlans, ms: number): string | null {
  let plan: string | null = null;
  for (const c of plans.changes) if (c.at <= ms) plan = c.plan;
  return plan;
}

/** The add-on plans held at `ms` (SPEC §15), sorted. */
export function addOnsAt(plans: CustomerPlans, ms: number): readonly string[] {
  let addOns: readonly string[] = [];
  for (const c of plans.changes) if (c.at <= ms) addOns = c.addOns ?? [];
  return addOns;
}
