import { runBill } from "limitr-engine/adapters/store/bill-run";
import type { CompiledPolicy } from "limitr-engine/core/model";
import type { NamedPeriod } from "limitr-engine/core/periods";
import type { Bill } from "limitr-engine/core/rating/bill";
import { compareSimulation, type SimulationSide } from "limitr-engine/core/simulate/compare";
import type { SideInfo, SimulationReport } from "limitr-engine/core/simulate/types";
import type { UsageStore } from "limitr-engine/core/usage/store-port";
import { replayInWorker } from "./replay.js";

export interface PolicyUnderTest {
  info: SideInfo;
  policy: CompiledPolicy;
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
  onProgress?: (done: number, total: number) => void,
): Promise<{ report: SimulationReport; sides: [SimulationSide, SimulationSide] }> {
  // The replay runs on a worker thread while the two bills are rated here (one after the other:
  // a large bill already spreads its scan over the cores).
  const replaying = replayInWorker(db, [base.policy, head.policy], period, { onProgress });
  replaying.catch(() => {}); // awaited below; a failure must not surface as unhandled meanwhile
  const bills: Bill[] = [
    await runBill(db, base.policy, period, { recordCredits: false }),
    await runBill(db, head.policy, period, { recordCredits: false }),
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
