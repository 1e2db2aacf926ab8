import type { CompiledPolicy } from "../../core/model.js";
import { type Decimal, ZERO } from "../../core/money.js";
import type { UsageLookup } from "../../core/rating/invoice.js";
import { COUNT_WEIGHT_SQL, sqlValue } from "../../core/usage/meters.js";
import { quantityOf } from "./bill-usage.js";
import type { Db } from "./database.js";
import { jsonPath } from "./usage-store.js";

/**
 * Percentage `free_events: N` (SPEC §15): the summed value of a window's
 * first N events, ordered by timestamp then id (the id breaks ties the same
 * way on every run). The daily cells of the bill's single pass do not keep
 * events, so this reads them: at most N rows per (account, entitlement,
 * window) through the (type, ts) index.
 */
export function withFirstEvents(db: Db, policy: CompiledPolicy, lookup: UsageLookup): UsageLookup {
  return (w) => {
    const out = lookup(w);
    const meter = policy.meters[w.meter];
    if (!w.firstEvents || !meter || out.events === 0)
      return w.firstEvents ? { ...out, firstEventsQuantity: ZERO } : out;
    const params: (string | number)[] = [...meter.events, ...w.members, w.start, w.end];
    const conds = Object.entries(meter.where).map(([k, values]) => {
      params.push(...values.map(sqlValue));
      return `json_extract(properties, ${jsonPath(k)}) IN (${values.map(() => "?").join(", ")})`;
    });
    const value =
      meter.aggregation === "count"
        ? COUNT_WEIGHT_SQL
        : meter.property
          ? `json_extract(properties, ${jsonPath(meter.property)})`
          : "value";
    const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
    const sql =
      `SELECT ${value} FROM events WHERE type IN (${marks(meter.events.length)}) ` +
      `AND customer IN (${marks(w.members.length)}) AND ts >= ? AND ts < ?` +
      `${conds.map((c) => ` AND ${c}`).join("")} ORDER BY ts, id LIMIT ?`;
    params.push(w.firstEvents);
    let sum: Decimal = ZERO;
    for (const raw of db
      .prepare(sql)
      .pluck()
      .all(...params)) {
      const v = typeof raw === "number" ? raw : raw === null || raw === undefined ? 0 : Number(raw);
      if (Number.isFinite(v)) sum = sum.plus(quantityOf(v));
    }
    return { ...out, firstEventsQuantity: sum };
  };
}
