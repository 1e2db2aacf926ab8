import { resolve } from "node:path";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { type NamedPeriod, parseInstant, parsePeriod } from "limitr-engine/core/periods";
import type { CliContext } from "../context.js";
import { plainTable } from "../render/view.js";

/** Helpers shared by the usage, customers and bill commands. */
export function loadPolicy(options: Record<string, unknown>, ctx: CliContext): CompiledPolicy {
  return loadValidPolicy(resolve(ctx.cwd, String(options.policies ?? "./policies")));
}

/**
 * The policy an import reads (its timezone for offset-less times, its meters
 * for the values a store extracts); null, with a note that times are read as
 * UTC, when there is no policy to read.
 */
export function importPolicy(options: Record<string, unknown>, ctx: CliContext): CompiledPolicy | null {
  try {
    return loadPolicy(options, ctx);
  } catch (err) {
    ctx.warn(`note: times without an offset are read as UTC (${(err as Error).message})`);
    return null;
  }
}

/** `--period P` or `--from/--to`; `required` = one of them must be given. */
export function periodOption(
  options: Record<string, unknown>,
  zone: string,
  required: boolean,
): NamedPeriod | null {
  const { period, from, to } = options as { period?: string; from?: string; to?: string };
  if (period !== undefined) {
    if (from !== undefined || to !== undefined)
      throw new UsageError("give --period or --from/--to, not both");
    const p = parsePeriod(period, zone);
    if (!p) throw new UsageError(`bad --period ${period} (expected 2026-10, 2026-Q4, 2026 or 2026-10-05)`);
    return p;
  }
  if (from !== undefined || to !== undefined) {
    if (from === undefined || to === undefined) throw new UsageError("--from and --to go together");
    const start = parseInstant(from, zone);
    const end = parseInstant(to, zone);
    if (start === null) throw new UsageError(`bad --from ${from}`);
    if (end === null) throw new UsageError(`bad --to ${to}`);
    if (end <= start) throw new UsageError("--to must be after --from");
    return { label: `${from.slice(0, 10)}_${to.slice(0, 10)}`, start, end };
  }
  if (required) throw new UsageError("--period P (or --from/--to) is required");
  return null;
}

/** Plain aligned columns (non-TTY output is stable text); `rightAlign` lists numeric columns. */
export function formatTable(rows: string[][], rightAlign: number[] = []): string {
  return plainTable(null, rows, rightAlign).join("\n");
}
