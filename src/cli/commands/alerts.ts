import { DEFAULT_RETRY } from "limitr-engine/adapters/alerts/delivery";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { UsageError } from "limitr-engine/core/errors";
import { calendarWindow, formatInstant, type NamedPeriod, parseInstant } from "limitr-engine/core/periods";
import { type CheckResult, checkAlerts, type Fired } from "../adapters/alerts/batch.js";
import { policyDigestOf } from "../adapters/git/load-at-ref.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { formatTable, loadPolicy, periodOption } from "./usage-common.js";

/**
 * `limitr alerts check [--period P] [--dry-run]`: evaluate every alert rule
 * over recorded usage and deliver what fires. Without --period: the current
 * month, as of now. A delivery that still fails after its retries stays in
 * the outbox for the next run, and the command exits 1 so schedulers notice.
 */
export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const now = asOfOption(options, policy.timezone);
  const period: NamedPeriod = periodOption(options, policy.timezone, false) ?? {
    ...calendarWindow("month", now, policy.timezone),
    label: "current month",
  };
  const asOf = Math.min(now, period.end - 1);
  const dryRun = Boolean(options.dryRun);
  const db = await openUsageStore(String(options.db), { readonly: dryRun, cwd: ctx.cwd });
  const progress = ctx.progress({ label: "checking alerts", unit: "days" });
  try {
    const result = await checkAlerts(db, policy, {
      onProgress: (done, days) => progress.update(done, done, days),
      period,
      asOf,
      dryRun,
      env: ctx.env,
      retry: DEFAULT_RETRY,
      version: 0,
      digest: policyDigestOf(policy),
    }).finally(() => progress.finish());
    for (const u of result.delivery?.unconfirmed ?? []) {
      ctx.warn(
        `${u.id} -> ${u.channel}: an earlier run started this delivery at ${u.since} and stopped before its outcome was recorded; sent again (alert delivery is at-least-once)`,
      );
    }
    const failed = result.delivery?.failed.length ?? 0;
    if (failed > 0) {
      ctx.warn(`${failed} deliver${failed === 1 ? "y" : "ies"} failed; kept in the outbox for the next run:`);
      for (const line of failureLines(result)) ctx.warn(`  ${line}`);
    }
    const output =
      options.format === "json"
        ? JSON.stringify(checkJson(result, policy.timezone), null, 2)
        : checkText(result, policy.timezone, dryRun);
    return { output, exitCode: failed > 0 ? 1 : 0 };
  } finally {
    await db.close();
  }
}

export function asOfOption(options: Record<string, unknown>, zone: string): number {
  if (options.at === undefined) return Date.now();
  const at = parseInstant(String(options.at), zone);
  if (at === null) throw new UsageError(`bad --at ${String(options.at)} (expected an ISO-8601 time)`);
  return at;
}

function checkJson(r: CheckResult, zone: string) {
  return {
    formatVersion: 1,
    period: {
      label: r.period.label,
      start: formatInstant(r.period.start, zone),
      end: formatInstant(r.period.end, zone),
    },
    asOf: formatInstant(r.asOf, zone),
    evaluated: r.evaluated,
    holding: r.holding,
    fired: r.fired.map((f) => ({ ...f, entitlement: f.entitlement || null })),
    delivery: r.delivery,
  };
}

function checkText(r: CheckResult, zone: string, dryRun: boolean): string {
  const head = `alerts for ${r.period.label} as of ${formatInstant(r.asOf, zone)}: ${r.evaluated} evaluations, ${r.fired.length} ${dryRun ? "would fire" : "fired"}`;
  if (r.fired.length === 0) return head;
  const rows = [["alert", "event", "customer", "entitlement", "channels", "delivery"]];
  for (const f of r.fired)
    rows.push([
      f.alert,
      f.kind,
      f.customer,
      f.entitlement || "-",
      f.channels.join(",") || "-",
      status(f, r, dryRun),
    ]);
  return `${head}\n\n${formatTable(rows)}`;
}

function status(f: Fired, r: CheckResult, dryRun: boolean): string {
  if (dryRun) return "dry run";
  if (f.channels.length === 0) return "no channels";
  const failed = r.delivery?.failed.filter((d) => d.id === f.id) ?? [];
  if (failed.length === 0) return "delivered";
  return `failed (outbox): ${failed.map((d) => `${d.channel}: ${d.error}`).join("; ")}`;
}

/**
 * One line per failed delivery, with its reason (a missing environment
 * variable, an HTTP status, a connection error...), as `--format json` gives it.
 */
function failureLines(r: CheckResult): string[] {
  const fired = new Map(r.fired.map((f) => [f.id, f]));
  return (r.delivery?.failed ?? []).map((d) => {
    const f = fired.get(d.id);
    const what = f ? `${f.alert} for ${f.customer}${f.entitlement ? ` (${f.entitlement})` : ""}` : d.id;
    const tries = d.attempts > 0 ? ` after ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}` : "";
    return `${what} -> ${d.channel}: ${d.error}${tries}`;
  });
}
