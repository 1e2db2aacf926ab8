import { createHash } from "node:crypto";
import type { Aggregation, CompiledMeter, PropertyValue } from "../model.js";
import { costDimension } from "./meters.js";

/**
 * What determines a meter's per-day values, and nothing else: two meters
 * (of one policy or of two versions) with the same definition share one
 * rollup. The meter's id, unit, description, rates and `group_by` are not
 * part of it: renaming a meter or changing a price keeps its rollup.
 */
export interface RollupDefinition {
  /** Bumped when the meaning of a stored rollup cell changes (old rollups are then rebuilt). */
  v: 1;
  events: string[];
  where: [string, PropertyValue[]][];
  aggregation: Exclude<Aggregation, "time_weighted">;
  /** Property holding the value (null: the event's `value`; always null for `count`). */
  property: string | null;
  /** Property the cells are split by: the cost dimension of a sum or count meter, else null. */
  dim: string | null;
  /** IANA zone whose calendar days the cells are. */
  zone: string;
}

/** Meters whose per-day cells can be rolled up exactly (time_weighted needs every reading; it is scanned). */
export function rollable(meter: CompiledMeter): boolean {
  return meter.aggregation !== "time_weighted";
}

const order = (a: PropertyValue, b: PropertyValue): number => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** The canonical definition of a meter's daily rollup in a zone (sorted, so equal meters are equal JSON). */
export function rollupDefinition(meter: CompiledMeter, zone: string): RollupDefinition {
  if (meter.aggregation === "time_weighted") throw new Error(`meter ${meter.id} is time_weighted: no rollup`);
  return {
    v: 1,
    events: [...new Set(meter.events)].sort(),
    where: Object.entries(meter.where)
      .map(([k, values]): [string, PropertyValue[]] => [k, [...new Set(values)].sort(order)])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    aggregation: meter.aggregation,
    property: meter.aggregation === "count" ? null : meter.property,
    dim: meter.aggregation === "sum" || meter.aggregation === "count" ? costDimension(meter) : null,
    zone,
  };
}

/** Stable id of a definition: sha256 of its canonical JSON, hex, 32 characters. */
export function definitionFingerprint(def: RollupDefinition): string {
  return createHash("sha256").update(JSON.stringify(def)).digest("hex").slice(0, 32);
}

/** The fingerprint a meter's daily rollup in `zone` is stored under. */
export function meterFingerprint(meter: CompiledMeter, zone: string): string {
  return definitionFingerprint(rollupDefinition(meter, zone));
}
