/**
 * limitr's public library API.
 */

export type { AlertNotification, DeliveryResult, RetryPolicy } from "./adapters/alerts/delivery.js";
export type { ChannelSender } from "./adapters/alerts/dispatch.js";
export { verifySignature } from "./adapters/alerts/signature.js";
export { MemoryEngineStore } from "./adapters/store/memory-store.js";
export type { UsageQueryResult } from "./adapters/store/usage-query.js";
export { creditsFor, UnratedQuantityError } from "./core/credits/convert.js";
export { customerCurrency, planInCurrency } from "./core/currencies.js";
export type { Decision, Hold, Reason, Usage } from "./core/engine/decision.js";
export { REASONS } from "./core/engine/decision.js";
export type { LeaseParams } from "./core/engine/lease.js";
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
export type { InvoiceJson } from "./core/rating/invoice-json.js";
export type { DeliverAlertsOptions, DeliveryStatus } from "./runtime/alert-delivery.js";
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
} from "./runtime/events.js";
export { Limitr } from "./runtime/limitr.js";
export type {
  CallOptions,
  Durability,
  EngineStatus,
  Instant,
  LimitrOptions,
  PolicySourceKind,
  RecordResult,
  UsageEventInput,
} from "./runtime/options.js";
export type { BundleDocument, BundleStoreInput, PolicyInput } from "./runtime/policy-input.js";
export type {
  InvoicePreviewOptions,
  ReadOptions,
  ReadPolicy,
  UsageQueryOptions,
} from "./runtime/read-api.js";
export { previewInvoice, queryUsage } from "./runtime/read-api.js";
export type { CountersStatus } from "./runtime/shared-counters.js";
export type { CapUsage } from "./runtime/spend-caps.js";
export type { WalletBalance, WalletTransaction } from "./runtime/wallets.js";
