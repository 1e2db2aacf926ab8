/**
 * limitr's public library API.
 */

export { MemoryEngineStore } from "./adapters/store/memory-store.js";
export type { Decision, Hold, Reason, Usage } from "./core/engine/decision.js";
export { REASONS } from "./core/engine/decision.js";
export type { EngineStore } from "./core/engine/store-port.js";
export {
  CheckFailedError,
  ConflictError,
  InputError,
  InternalError,
  LimitrError,
  PolicyError,
  UsageError,
} from "./core/errors.js";
export type * from "./core/model.js";
export type {
  AlertNotice,
  DeniedNotice,
  EngineEventName,
  EngineEvents,
  OverageNotice,
  PolicyActivatedNotice,
  PolicyNotice,
  PolicyRejectedNotice,
  ThresholdNotice,
  UsageNotice,
} from "./engine/events.js";
export { Limitr } from "./engine/limitr.js";
export type {
  CallOptions,
  Durability,
  EngineStatus,
  Instant,
  LimitrOptions,
  PolicySourceKind,
  RecordResult,
  UsageEventInput,
} from "./engine/options.js";
export type { BundleDocument, BundleStoreInput, PolicyInput } from "./engine/policy-input.js";
