import type { Reason } from "../core/engine/decision.js";
import { InputError } from "../core/errors.js";

/** Fields every usage notification carries. Times are epoch ms. */
export interface UsageNotice {
  customer: string;
  entitlement: string;
  /** Customer whose counter was evaluated (differs from `customer` for `scope: parent|root`). */
  owner: string;
  /** Units of the call that triggered the notice. */
  amount: number;
  used: number;
  /** null = unlimited. */
  limit: number | null;
  /** used / limit * 100; null when unlimited. */
  percent: number | null;
  periodStart: number;
  periodEnd: number;
  reason: Reason;
  /** When the call was made (the `now` of the call). */
  at: number;
  version: number;
  digest: string;
}

/** A call was refused (R4: nothing else changed). */
export interface DeniedNotice extends UsageNotice {}

/** A counted call went past the limit (soft/observe): emitted for every such call; `first` marks the period's first. */
export interface OverageNotice extends UsageNotice {
  /** Units of this call past the limit. */
  overage: number;
  first: boolean;
}

/** A counter crossed 50, 80 or 100 % of its limit (once per counter, threshold and period). */
export interface ThresholdNotice extends UsageNotice {
  threshold: 50 | 80 | 100;
}

/** A bundle reload activated a new bundle: decisions from now on carry its version and digest (R14). */
export interface PolicyActivatedNotice {
  type: "activated";
  version: number;
  digest: string;
  previousVersion: number;
  previousDigest: string;
  /** Epoch ms (the engine clock). */
  at: number;
}

/**
 * A bundle reload failed and the last-known-good bundle stays active (R15).
 * Reported once per distinct failure, not on every poll that repeats it.
 */
export interface PolicyRejectedNotice {
  type: "rejected";
  /** Version the store offered; null when nothing could be read (`fetch_failed`). */
  version: number | null;
  /** A bundle verification reason (`digest_mismatch`, `unknown_key`, `stale_version`, ...) or `fetch_failed`. */
  reason: string;
  message: string;
  /** The version still active. */
  activeVersion: number;
  at: number;
}

export type PolicyNotice = PolicyActivatedNotice | PolicyRejectedNotice;

/** Emitted by the alert evaluator when a rule fires (the rule id and the variables it saw). */
export interface AlertNotice {
  /** Stable id of this notification (the outbox and receivers deduplicate on it). */
  id: string;
  kind: "triggered" | "resolved";
  alert: string;
  customer: string;
  entitlement: string | null;
  variables: Record<string, unknown>;
  version: number;
  digest: string;
}

export interface EngineEvents {
  denied: DeniedNotice;
  overage: OverageNotice;
  threshold: ThresholdNotice;
  alert: AlertNotice;
  policy: PolicyNotice;
}

export type EngineEventName = keyof EngineEvents;

/**
 * A tiny synchronous emitter. The `listening` flags let the decision path
 * skip building a payload nobody will read.
 */
export class Notifier {
  readonly listening: Record<EngineEventName, boolean> = {
    denied: false,
    overage: false,
    threshold: false,
    alert: false,
    policy: false,
  };
  private readonly handlers: { [K in EngineEventName]: ((e: EngineEvents[K]) => void)[] } = {
    denied: [],
    overage: [],
    threshold: [],
    alert: [],
    policy: [],
  };
  /** Someone listens to threshold or overage notices: only then is the crossing bookkeeping done. */
  tracking = false;
  /** The last exception a handler threw (handlers never break a decision). */
  lastError: unknown = null;

  on<K extends EngineEventName>(name: K, handler: (e: EngineEvents[K]) => void): () => void {
    const list = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (!list)
      throw new InputError(`unknown event ${String(name)}; one of ${Object.keys(this.handlers).join(", ")}`);
    if (typeof handler !== "function")
      throw new InputError(`the handler of "${name}" must be a function (got ${typeof handler})`);
    list.push(handler);
    this.listening[name] = true;
    this.tracking = this.listening.threshold || this.listening.overage;
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
      this.listening[name] = list.length > 0;
      this.tracking = this.listening.threshold || this.listening.overage;
    };
  }

  emit<K extends EngineEventName>(name: K, payload: EngineEvents[K]): void {
    for (const handler of this.handlers[name]) {
      try {
        handler(payload);
      } catch (err) {
        this.lastError = err;
      }
    }
  }
}

/** What a counted call needs to raise notices: where they go, and the policy they were made under (R14). */
export interface NoticeContext {
  notifier: Notifier;
  version: number;
  digest: string;
}
