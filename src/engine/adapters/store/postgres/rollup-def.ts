import { createHash } from "node:crypto";
import type { CompiledMeter } from "../../../core/model.js";
import { costDimension } from "../../../core/usage/meters.js";

/**
 * The Postgres store's rollup key (its cells keep the cost dimension of every
 * aggregation, and `unit_time`; the SQLite store's is core/usage/rollup-key.ts).
 * The identity of a meter's daily figures: what decides which events count,
 * what each adds and on which day (event types, `where` filter, aggregation,
 * property, cost dimension, `unit_time`, the policy timezone). Two policies
 * whose meters agree on these share the same rollups, whatever the meters'
 * ids, prices or descriptions; a change to any of them is a new fingerprint
 * (built afresh), never a silent reuse.
 */
export function meterFingerprint(meter: CompiledMeter, zone: string): string {
  return createHash("sha256")
    .update(JSON.stringify(rollupDefinition(meter, zone)))
    .digest("hex");
}

/** The fields a fingerprint hashes, in a canonical form (sorted types and filter keys). */
export function rollupDefinition(meter: CompiledMeter, zone: string) {
  const where = Object.keys(meter.where)
    .sort()
    .map((k) => [k, [...(meter.where[k] ?? [])].sort(byJson)] as const);
  return {
    v: 1,
    events: [...new Set(meter.events)].sort(),
    where,
    aggregation: meter.aggregation,
    property: meter.property,
    dimension: costDimension(meter),
    unitTime: meter.unitTime ?? null,
    zone,
  };
}

export type RollupDefinition = ReturnType<typeof rollupDefinition>;

function byJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
