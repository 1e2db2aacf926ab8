/**
 * Which fields an expectation may name, per kind of step. Names are those of
 * the API result the step produces (Decision, Usage, RecordResult) and of
 * `limitr bill --format json` for invoices, so a test reads like the output.
 */
export const DECISION_FIELDS = [
  "allowed",
  "reason",
  "used",
  "limit",
  "remaining",
  "resetsAt",
  "overage",
  "price",
] as const;

export const USAGE_FIELDS = ["used", "held", "limit", "remaining", "resetsAt"] as const;

/** `counted` is a map of entitlement -> units counted by the event. */
export const EVENT_FIELDS = ["duplicate", "counted"] as const;

/** `lines` is a map: an entitlement id (its usage lines) or a line kind -> amount, or `{ amount, quantity }`. */
export const INVOICE_FIELDS = [
  "number",
  "plan",
  "subtotal",
  "discount",
  "credits_applied",
  "total",
  "cost",
  "margin_percent",
  "lines",
] as const;

export const LINE_KINDS = [
  "subscription",
  "proration",
  "usage",
  "prepaid",
  "minimum",
  "discount",
  "credit",
  "purchase",
] as const;
export const LINE_FIELDS = ["amount", "quantity"] as const;

/** Fields holding money or exact decimals: compared as decimals, never as floats. */
export const DECIMAL_FIELDS = new Set([
  "price",
  "subtotal",
  "discount",
  "credits_applied",
  "total",
  "cost",
  "margin_percent",
  "amount",
  "quantity",
]);

/** Fields holding instants: the expectation is an ISO time, compared as an instant. */
export const INSTANT_FIELDS = new Set(["resetsAt"]);

export const STEP_KINDS = [
  "call",
  "check",
  "event",
  "usage",
  "plan",
  "reserve",
  "settle",
  "release",
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export function fieldsFor(kind: StepKind): readonly string[] {
  switch (kind) {
    case "call":
    case "check":
    case "settle":
      return DECISION_FIELDS;
    case "reserve":
      return ["granted"];
    case "release":
      return ["released"];
    case "usage":
      return USAGE_FIELDS;
    case "event":
      return EVENT_FIELDS;
    case "plan":
      return [];
  }
}
