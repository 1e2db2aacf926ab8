import type { EngineStatus, Limitr } from "limitr-engine";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * Label for an entitlement that is not known to be in the active policy:
 * client input must not grow the series count. Any other reason means some
 * plan of the active policy defines the entitlement.
 */
const UNKNOWN = "(unknown)";
const UNVERIFIED = new Set(["unknown_entitlement", "unknown_customer", "unknown_plan"]);

/**
 * Prometheus metrics of `limitr serve` (`/metrics`): decisions by entitlement
 * and reason, denials, request latency, the write-behind buffer, the active
 * bundle, reloads and store health. Engine figures are read from `status()`
 * at scrape time.
 */
export class ServeMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<"op" | "entitlement" | "reason">;
  private readonly denials: Counter<"entitlement" | "reason">;
  readonly latency: Histogram<"route" | "method" | "status">;
  private readonly events: Counter;
  readonly reloads: Counter<"outcome">;
  private engine: Limitr | null = null;
  private ready = () => false;

  constructor() {
    const registers = [this.registry];
    this.decisions = new Counter({
      name: "limitr_decisions_total",
      help: "Decisions by operation, entitlement and reason (allow's granted calls: reason=allowed)",
      labelNames: ["op", "entitlement", "reason"],
      registers,
    });
    this.denials = new Counter({
      name: "limitr_denials_total",
      help: "Denied calls by entitlement and reason",
      labelNames: ["entitlement", "reason"],
      registers,
    });
    this.latency = new Histogram({
      name: "limitr_http_request_duration_seconds",
      help: "Time to answer a request, by route, method and status",
      labelNames: ["route", "method", "status"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.events = new Counter({
      name: "limitr_events_recorded_total",
      help: "Events recorded through /v1/record",
      registers,
    });
    this.reloads = new Counter({
      name: "limitr_bundle_reloads_total",
      help: "Bundle reloads by outcome (activated, rejected)",
      labelNames: ["outcome"],
      registers,
    });
    const status = (): EngineStatus | null => this.engine?.status() ?? null;
    const gauge = (name: string, help: string, read: (s: EngineStatus) => number | null) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = status();
          const v = s === null ? null : read(s);
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    gauge(
      "limitr_events_buffered",
      "Events buffered and not yet written to the store",
      (s) => s.pendingEvents,
    );
    gauge("limitr_last_flush_timestamp_seconds", "When the buffer was last written", (s) =>
      s.lastFlushAt === null ? null : s.lastFlushAt / 1000,
    );
    gauge(
      "limitr_bundle_version",
      "Version of the active policy bundle (0 = a policy directory)",
      (s) => s.activeVersion,
    );
    gauge("limitr_bundle_last_check_timestamp_seconds", "When the bundle store was last polled", (s) =>
      s.lastCheckAt === null ? null : s.lastCheckAt / 1000,
    );
    gauge("limitr_bundle_error", "1 while the last bundle poll failed or was rejected", (s) =>
      s.policyError === null ? 0 : 1,
    );
    gauge("limitr_store_up", "0 while writes to the store fail (the batch stays buffered)", (s) =>
      s.lastError !== null && s.lastError !== s.policyError ? 0 : 1,
    );
    gauge(
      "limitr_alert_outbox_depth",
      "Alert notifications waiting for delivery (due now or for a retry)",
      (s) => s.alertDelivery?.pending ?? null,
    );
    gauge(
      "limitr_alerts_delivered",
      "Alert notifications delivered since start",
      (s) => s.alertDelivery?.delivered ?? null,
    );
    gauge(
      "limitr_alert_delivery_failures",
      "Alert delivery passes that left a notification in the outbox since start",
      (s) => s.alertDelivery?.failed ?? null,
    );
    const ready = () => (this.ready() ? 1 : 0);
    new Gauge({
      name: "limitr_ready",
      help: "1 once a valid policy is active and until shutdown",
      registers,
      collect() {
        this.set(ready());
      },
    });
    new Gauge({
      name: "limitr_bundle_info",
      help: "The active bundle's digest and source (value 1)",
      labelNames: ["digest", "source"],
      registers,
      collect: () => {
        const s = status();
        const g = this.registry.getSingleMetric("limitr_bundle_info") as Gauge<"digest" | "source">;
        g.reset();
        if (s !== null) g.set({ digest: s.activeDigest, source: s.source }, 1);
      },
    });
  }

  attach(engine: Limitr, ready: () => boolean): void {
    this.engine = engine;
    this.ready = ready;
  }

  decision(op: string, entitlement: string, allowed: boolean, reason: string): void {
    const e = UNVERIFIED.has(reason) ? UNKNOWN : entitlement;
    this.decisions.inc({ op, entitlement: e, reason });
    if (!allowed) this.denials.inc({ entitlement: e, reason });
  }

  recorded(): void {
    this.events.inc();
  }
}
