import { existsSync } from "node:fs";
import { policyDigestOf } from "limitr-engine/adapters/bundles/crypto";
import { openDatabase } from "limitr-engine/adapters/store/database";
import { SqliteUsageStore } from "limitr-engine/adapters/store/sqlite-usage-store";
import { summarizeStore } from "limitr-engine/adapters/store/store-summary";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { calendarWindow, isoDate, type NamedPeriod } from "limitr-engine/core/periods";
import { loadPolicyAt } from "../adapters/git/load-at-ref.js";
import type { PolicyRepo } from "../adapters/git/policy-repo.js";
import { simulationJson } from "../render/simulate-json.js";
import { simulatePolicies } from "../services/simulate/compare-policies.js";

/**
 * The month the studio simulates a change on: the last calendar month that
 * has ended and holds recorded usage (the month of the last event, or the one
 * before the current month when usage is still arriving).
 */
export function lastClosedMonth(lastEvent: number, now: number, zone: string): NamedPeriod {
  const current = calendarWindow("month", now, zone);
  const month = calendarWindow("month", Math.min(lastEvent, current.start - 1), zone);
  return { label: isoDate(month.start, zone).slice(0, 7), ...month };
}

export type SimulationAnswer =
  | ({ available: true } & ReturnType<typeof simulationJson>)
  | { available: false; reason: string };

/** `limitr simulate --base BASE --period <last closed month>` for the work tree's policy, as JSON. */
export async function simulateChange(
  repo: PolicyRepo,
  base: string,
  head: CompiledPolicy,
  where: { cwd: string; policies: string; db: string },
  now = Date.now(),
): Promise<SimulationAnswer> {
  if (!existsSync(where.db))
    return {
      available: false,
      reason: `no usage store at ${where.db}: import usage with \`limitr usage import\``,
    };
  const summary = summarizeStore(where.db);
  if (summary.lastEvent === null)
    return { available: false, reason: `the usage store ${where.db} holds no events` };
  const period = lastClosedMonth(summary.lastEvent, now, head.timezone);
  if (summary.firstEvent !== null && summary.firstEvent >= period.end)
    return { available: false, reason: "no month with recorded usage has ended yet" };
  const before = await loadPolicyAt(repo, base, where.cwd, where.policies);
  if (!before.policy) return { available: false, reason: `${base} has no commits to compare with` };
  const db = openDatabase(where.db, { readonly: true });
  try {
    const { report } = await simulatePolicies(
      new SqliteUsageStore(db),
      { info: { ...before.side, digest: policyDigestOf(before.policy) }, policy: before.policy },
      { info: { ref: "your change", commit: null, digest: policyDigestOf(head) }, policy: head },
      period,
    );
    return { available: true, ...simulationJson(report, null) };
  } finally {
    db.close();
  }
}
