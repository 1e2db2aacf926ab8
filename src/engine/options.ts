import type { EngineStore } from "../core/engine/store-port.js";
import type { PropertyValue } from "../core/model.js";
import type { PolicyInput } from "./policy-input.js";

export type Durability = "batched" | "sync";
export type Instant = number | Date;

export interface LimitrOptions {
  /** A policy directory, a bundle `.json` file (`{ manifest, policy }`), or a compiled policy / bundle object. */
  policy: PolicyInput;
  /** `"memory"`, `"sqlite:PATH"` (default `sqlite:.limitr/usage.db`), or a store instance. */
  store?: string | EngineStore;
  /** `batched` (default): write-behind in bounded batches. `sync`: every counted decision is committed before it returns. */
  durability?: Durability;
  batch?: { maxEvents?: number; maxDelayMs?: number };
  /** Clock used when a call passes no `now` (default `Date.now`). */
  now?: () => Instant;
  /** How many recent event ids are remembered for idempotency (R13); default 100,000. */
  idempotencyWindow?: number;
}

export interface CallOptions {
  properties?: Record<string, PropertyValue>;
  /** Idempotency key: a call with an id already counted counts nothing (R13). */
  id?: string;
  now?: Instant;
}

/** A usage event for `record` (SPEC §6). */
export interface UsageEventInput {
  id?: string;
  type: string;
  customer: string;
  /** ISO-8601 or epoch ms; default now. */
  timestamp?: string | number | Date;
  value?: number;
  properties?: Record<string, PropertyValue>;
}

export interface RecordResult {
  id: string;
  /** The id was already recorded: nothing was counted again (R13). */
  duplicate: boolean;
  /** Each entitlement the event counted toward, with its counter after the event. */
  counted: { entitlement: string; amount: number; used: number; limit: number | null; overage: number }[];
  version: number;
  digest: string;
}

export interface EngineStatus {
  activeVersion: number;
  activeDigest: string;
  store: string;
  durability: Durability;
  /** Events buffered and not yet written. */
  pendingEvents: number;
  lastFlushAt: number | null;
  lastError: string | null;
}

export function toMs(t: Instant): number {
  return typeof t === "number" ? t : t.getTime();
}
