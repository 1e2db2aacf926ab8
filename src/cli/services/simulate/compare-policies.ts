import { runBill } from "limitr-engine/adapters/store/bill-run";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { NamedPeriod, Window } from "limitr-engine/core/periods";
import type { Bill } from "limitr-engine/core/rating/bill";
import { compareSimulation, type SimulationSide } from "limitr-engine/core/simulate/compare";
import { unchangedEnforcement } from "limitr-engine/core/simulate/replay-scope";
import type { SideInfo, SimulationReport } from "limitr-engine/core/simulate/types";
import type { DailyUsage, FirstEvents, UsageStore } from "limitr-engine/core/usage/store-port";
import { replayInWorker } from "./replay.js";

export interface PolicyUnderTest {
  info: SideInfo;
  policy: CompiledPolicy;
}

export interface SimulateOptions {
  onProgress?: (done: number, total: number) => void;
  /**
   * Replay every entitlement that can refuse, also those whose enforcement is
   * the same under both policies (by default they are left out: their denials
   * would be equal on both sides).
   */
  fullReplay?: boolean;
}

/**
 * Re-rate a period's recorded usage under two policies exactly as `bill`
 * does, and replay its events through an engine under each to count denials
 * (what `limitr simulate` and the studio's review both show). Reads `db` only;
 * credits are never recorded.
 */
export async function simulatePolicies(
  db: UsageStore,
  base: PolicyUnderTest,
  head: PolicyUnderTest,
  period: NamedPeriod,
  options: SimulateOptions = {},
): Promise<{ report: SimulationReport; sides: [SimulationSide, SimulationSide] }> {
  const skip = options.fullReplay ? new Set<string>() : unchangedEnforcement(base.policy, head.policy);
  // The replay runs on a worker thread while the two bills are rated here (one after the other:
  // a large bill already spreads its scan over the cores).
  const replaying = replayInWorker(db, [base.policy, head.policy], period, {
    onProgress: options.onProgress,
    skip,
  });
  replaying.catch(() => {}); // awaited below; a failure must not surface as unhandled meanwhile
  const shared = sharingUsage(db);
  const bills: Bill[] = [
    await runBill(shared, base.policy, period, { recordCredits: false }),
    await runBill(shared, head.policy, period, { recordCredits: false }),
  ];
  const replays = await replaying;
  const side = (s: PolicyUnderTest, i: 0 | 1): SimulationSide => ({
    info: s.info,
    policy: s.policy,
    bill: bills[i]!,
    replay: replays[i]!,
  });
  const sides: [SimulationSide, SimulationSide] = [side(base, 0), side(head, 1)];
  return { report: compareSimulation(sides[0], sides[1], period), sides };
}

/**
 * The store, with `dailyUsage` read once for policies that measure usage the
 * same way (same meters, credit units and timezone), and `firstEvents` once
 * per meter and period: a simulation that changes prices re-rates the same
 * figures twice instead of reading them twice. Rating only reads them.
 */
function sharingUsage(store: UsageStore): UsageStore {
  const read = new Map<string, Promise<DailyUsage>>();
  const leads = new Map<string, Promise<FirstEvents>>();
  const firstEvents: UsageStore["firstEvents"] = (meter, period, days, n, zone) => {
    const key = JSON.stringify([meter, period.start, period.end, days, n, zone ?? null]);
    let hit = leads.get(key);
    if (!hit) leads.set(key, (hit = store.firstEvents(meter, period, days, n, zone)));
    return hit;
  };
  const dailyUsage: UsageStore["dailyUsage"] = (policy, period: Window, onProgress) => {
    const key = JSON.stringify([
      policy.meters,
      policy.creditUnits ?? null,
      policy.timezone,
      period.start,
      period.end,
    ]);
    let usage = read.get(key);
    if (!usage) read.set(key, (usage = store.dailyUsage(policy, period, onProgress)));
    return usage;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "dailyUsage") return dailyUsage;
      if (prop === "firstEvents") return firstEvents;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
