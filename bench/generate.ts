import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Write a deterministic usage data set with scripts/gen-usage.ts (in its own
 * process, streamed to disk); with `customers`, also its plan-history CSV.
 * Returns the seconds it took.
 */
export function generateUsage(file: string, events: number, seed: number, customers?: string): number {
  const t = performance.now();
  const args = ["--import", "tsx", join(root, "scripts/gen-usage.ts"), "--events", String(events)];
  args.push("--seed", String(seed), "--out", file);
  if (customers) args.push("--customers", customers);
  execFileSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  return (performance.now() - t) / 1000;
}
