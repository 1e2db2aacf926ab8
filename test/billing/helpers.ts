import { parse } from "yaml";
import { compilePolicy } from "../../src/engine/core/compile.js";
import type { CompiledPolicy } from "../../src/engine/core/model.js";
import { type Decimal, dec, ZERO } from "../../src/engine/core/money.js";
import type { UsageAmount, UsageLookup } from "../../src/engine/core/rating/invoice.js";
import { countWeight, meterMatches } from "../../src/engine/core/usage/meters.js";

/** A policy from YAML text, compiled the way `loadValidPolicy` does. */
export function policyFrom(yaml: string): CompiledPolicy {
  return compilePolicy(parse(yaml) as Record<string, unknown>);
}

export interface TestEvent {
  /** Event id: orders events with the same timestamp (default: their position). */
  id?: string;
  customer: string;
  type: string;
  ts: number;
  properties?: Record<string, unknown>;
  value?: number;
}

/**
 * The in-memory reference of meter aggregation (sum and count), used to feed
 * the pure rater without a store.
 */
export function memoryLookup(policy: CompiledPolicy, events: TestEvent[]): UsageLookup {
  return (w): UsageAmount => {
    const meter = policy.meters[w.meter];
    const out: UsageAmount = { quantity: ZERO, events: 0, byDim: new Map<string, Decimal>() };
    if (!meter) return out;
    const inWindow: { ts: number; id: string; v: Decimal }[] = [];
    for (const [i, e] of events.entries()) {
      if (!w.members.includes(e.customer) || e.ts < w.start || e.ts >= w.end) continue;
      if (!meterMatches(meter, e.type, e.properties ?? null)) continue;
      const v =
        meter.aggregation === "count"
          ? dec(countWeight(e.value))
          : dec((meter.property ? e.properties?.[meter.property] : e.value) as number);
      const dim = meter.cost?.by ? String(e.properties?.[meter.cost.by] ?? "") : "";
      out.quantity = out.quantity.plus(v);
      out.events++;
      out.byDim.set(dim, (out.byDim.get(dim) ?? ZERO).plus(v));
      inWindow.push({ ts: e.ts, id: e.id ?? String(i).padStart(8, "0"), v });
    }
    if (w.firstEvents) {
      inWindow.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      out.firstEventsQuantity = inWindow.slice(0, w.firstEvents).reduce((a, x) => a.plus(x.v), ZERO);
    }
    return out;
  };
}
