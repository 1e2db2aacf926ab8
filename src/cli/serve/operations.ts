import type { Limitr, UsageEventInput } from "limitr-engine";
import type { PropertyValue } from "limitr-engine/core/model";
import type { HoldRegistry } from "./holds.js";
import type { ServeMetrics } from "./metrics.js";
import type { OperationName } from "./schemas.js";

/**
 * The engine calls behind the POST /v1/* endpoints, one function per
 * operation; the single routes and /v1/batch both call these. Bodies arrive
 * validated against `OPERATIONS[op].body`. A denial is an answer (allowed =
 * false and a reason), never an error.
 */
export interface OperationContext {
  engine: Limitr;
  holds: HoldRegistry;
  metrics: ServeMetrics;
}

interface CallBody {
  customer: string;
  entitlement: string;
  amount?: number;
  properties?: Record<string, PropertyValue>;
  id?: string;
}

type Operation = (ctx: OperationContext, body: never) => unknown;

export const OPERATION_HANDLERS: Record<OperationName, Operation> = {
  check({ engine, metrics }, b: CallBody) {
    const d = engine.check(b.customer, b.entitlement, b.amount ?? 1, { id: b.id });
    metrics.decision("check", b.entitlement, d.allowed, d.reason);
    return d;
  },

  allow({ engine, metrics }, b: CallBody) {
    const options = b.id === undefined && b.properties === undefined ? undefined : b;
    if (engine.allow(b.customer, b.entitlement, b.amount ?? 1, options)) {
      metrics.decision("allow", b.entitlement, true, "allowed");
      return { allowed: true };
    }
    // A denial changed nothing (R4), so check() names the reason allow() had.
    const reason = engine.check(b.customer, b.entitlement, b.amount ?? 1).reason;
    metrics.decision("allow", b.entitlement, false, reason);
    return { allowed: false, reason };
  },

  decide({ engine, metrics }, b: CallBody) {
    const d = engine.decide(b.customer, b.entitlement, b.amount ?? 1, b);
    metrics.decision("decide", b.entitlement, d.allowed, d.reason);
    return d;
  },

  record({ engine, metrics }, b: UsageEventInput) {
    const r = engine.record(b);
    metrics.recorded();
    return r;
  },

  reserve(
    { engine, holds, metrics },
    b: { customer: string; entitlement: string; amount: number; ttlMs?: number },
  ) {
    const hold = engine.reserve(b.customer, b.entitlement, b.amount, { ttlMs: b.ttlMs ?? 60_000 });
    if (hold !== null) {
      holds.add(hold);
      metrics.decision("reserve", b.entitlement, true, "ok");
      return { allowed: true, hold };
    }
    const checked = engine.check(b.customer, b.entitlement, b.amount).reason;
    const reason = checked === "ok" ? "invalid_amount" : checked;
    metrics.decision("reserve", b.entitlement, false, reason);
    return { allowed: false, reason };
  },

  settle(
    { engine, holds, metrics },
    b: { hold: string; actual: number; properties?: Record<string, PropertyValue> },
  ) {
    const hold = holds.forSettle(b.hold, Date.now());
    const d = engine.settle(hold, b.actual, { properties: b.properties });
    metrics.decision("settle", hold.entitlement, d.allowed, d.reason);
    return d;
  },

  release({ engine, holds }, b: { hold: string }) {
    const hold = holds.forRelease(b.hold, Date.now());
    return { released: hold === null ? false : engine.release(hold) };
  },
};
