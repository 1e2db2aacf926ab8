import { createHash } from "node:crypto";
import type { AlertNotification, RetryPolicy } from "limitr-engine/adapters/alerts/delivery";
import { type DrainReport, drainOutbox } from "limitr-engine/adapters/alerts/dispatch";
import { type Evaluation, evaluateCustomer } from "limitr-engine/core/alerts/evaluate";
import { type CompiledRule, compileRules, transition } from "limitr-engine/core/alerts/rules";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { formatInstant, type NamedPeriod } from "limitr-engine/core/periods";
import type { AlertOutbox, UsageStore } from "limitr-engine/core/usage/store-port";
import { sendEmail } from "./email.js";
import { gatherFigures } from "./figures.js";

export interface CheckOptions {
  period: NamedPeriod;
  /** The instant the figures are taken at (the end of a past period, or now). */
  asOf: number;
  dryRun: boolean;
  /**
   * Deliver the outbox after evaluating (default true). A long-running
   * process whose engine delivers continuously evaluates without it.
   */
  deliver?: boolean;
  /** Which rules to evaluate (default all). */
  rules?: (rule: CompiledRule) => boolean;
  env: NodeJS.ProcessEnv;
  retry: RetryPolicy;
  version: number;
  digest: string;
  /** Days of usage scanned out of the period's days. */
  onProgress?: (daysDone: number, days: number) => void;
}

export interface Fired {
  id: string;
  kind: "triggered" | "resolved";
  alert: string;
  customer: string;
  entitlement: string;
  channels: string[];
  figures: Evaluation["vars"];
}

export interface CheckResult {
  period: NamedPeriod;
  asOf: number;
  evaluated: number;
  holding: number;
  fired: Fired[];
  /** null on a dry run, or when delivery was left to the running engine. */
  delivery: DrainReport | null;
}

/** A notification's id: stable for one transition of one rule for one customer and period. */
export function notificationId(e: Evaluation, kind: string, asOf: number): string {
  const key = [e.rule.alert.id, e.customer, e.entitlement, e.periodStart, kind, asOf].join("\u0000");
  return `alr_${createHash("sha256").update(key).digest("hex").slice(0, 24)}`;
}

function figuresOf(vars: Evaluation["vars"]): AlertNotification["figures"] {
  const { customer: _c, plan: _p, parent: _pa, metadata: _m, entitlement: _e, ...figures } = vars;
  return figures;
}

/**
 * `limitr alerts check`: evaluate every rule over the recorded usage, move
 * each rule's state, queue what fires in the outbox (one transaction per
 * transition) and deliver everything due, including earlier failures.
 */
export async function checkAlerts(
  db: UsageStore,
  policy: CompiledPolicy,
  options: CheckOptions,
): Promise<CheckResult> {
  const rules = compileRules(policy).filter(options.rules ?? (() => true));
  const readState = db.alerts() as AlertOutbox<AlertNotification>;
  const store = options.dryRun ? null : readState;
  const fired: Fired[] = [];
  let evaluated = 0;
  let holding = 0;
  for (const figures of await gatherFigures(db, policy, options.period, options.asOf, options.onProgress)) {
    for (const e of evaluateCustomer(rules, figures, options.period, options.asOf)) {
      evaluated++;
      if (e.holds) holding++;
      const key = {
        alert: e.rule.alert.id,
        customer: e.customer,
        entitlement: e.entitlement,
        periodStart: e.periodStart,
      };
      const state = await readState.state(key);
      const next = transition(e.rule.alert.once, state, e.holds);
      if (next.notify === null) continue;
      const id = notificationId(e, next.notify, options.asOf);
      const note: AlertNotification = {
        id,
        event: next.notify === "triggered" ? "alert.triggered" : "alert.resolved",
        alert: e.rule.alert.id,
        customer: e.customer,
        plan: e.vars.plan,
        entitlement: e.entitlement || null,
        period: {
          start: formatInstant(e.period.start, policy.timezone),
          end: formatInstant(e.period.end, policy.timezone),
        },
        figures: figuresOf(e.vars),
        createdAt: new Date(options.asOf).toISOString(),
        version: options.version,
        digest: options.digest,
      };
      await store?.record(key, next.state, note, e.rule.alert.channels, Date.now());
      fired.push({
        id,
        kind: next.notify,
        alert: e.rule.alert.id,
        customer: e.customer,
        entitlement: e.entitlement,
        channels: e.rule.alert.channels,
        figures: e.vars,
      });
    }
  }
  const delivery =
    store && options.deliver !== false
      ? await drainOutbox(store, policy.channels, options.env, options.retry, Date.now, { email: sendEmail })
      : null;
  return { period: options.period, asOf: options.asOf, evaluated, holding, fired, delivery };
}
