import { REASONS } from "limitr-engine";

/**
 * JSON Schemas of `limitr serve`: request bodies, answers and errors. The
 * routes validate with them, the batch endpoint validates each call with the
 * same ones, and the OpenAPI document is generated from them.
 */

const id = { type: "string", minLength: 1, maxLength: 256 } as const;
const name = { type: "string", minLength: 1, maxLength: 256 } as const;

const properties = {
  type: "object",
  description: "Event properties (string, number or boolean values).",
  additionalProperties: { type: ["string", "number", "boolean"] },
  maxProperties: 64,
} as const;

const amount = {
  type: "number",
  description: "Units (default 1); negative = a refund (R5).",
  default: 1,
} as const;

/** Shared schemas, registered once (`$ref: "Decision#"`) and listed under components.schemas. */
export const SHARED = [
  {
    $id: "Decision",
    type: "object",
    description: "The library's Decision: a denial is a 200 with allowed=false and a reason.",
    required: ["allowed", "reason", "used", "limit", "remaining", "resetsAt", "overage", "price"],
    properties: {
      allowed: { type: "boolean" },
      reason: { type: "string", enum: [...REASONS] },
      used: { type: "number" },
      limit: { type: ["number", "null"] },
      remaining: { type: ["number", "null"] },
      resetsAt: { type: ["integer", "null"], description: "End of the period, epoch ms." },
      overage: { type: "number" },
      price: { type: "string", description: "Exact marginal charge, decimal text." },
      version: { type: "integer" },
      digest: { type: "string" },
    },
  },
  {
    $id: "Hold",
    type: "object",
    required: ["id", "customer", "entitlement", "amount", "expiresAt"],
    properties: {
      id: { type: "string" },
      customer: { type: "string" },
      entitlement: { type: "string" },
      amount: { type: "number" },
      expiresAt: { type: "integer", description: "Epoch ms after which the hold frees itself." },
    },
  },
  {
    $id: "Error",
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: { code: { type: "string" }, message: { type: "string" } },
      },
    },
  },
] as const;

const decisionRef = { $ref: "Decision#" } as const;

/** Body of check, allow and decide. */
const callBody = {
  type: "object",
  required: ["customer", "entitlement"],
  additionalProperties: false,
  properties: {
    customer: name,
    entitlement: name,
    amount,
    properties,
    id: { ...id, description: "Idempotency key: a call with an id already counted counts nothing (R13)." },
  },
} as const;

/** Each operation's body and 200 answer: one table serves the routes, the batch and the document. */
export const OPERATIONS = {
  check: {
    summary: "What decide would answer, counting nothing",
    body: callBody,
    response: decisionRef,
  },
  allow: {
    summary: "Decide and count; the boolean answer (the reason only on a denial)",
    body: callBody,
    response: {
      type: "object",
      required: ["allowed"],
      properties: { allowed: { type: "boolean" }, reason: { type: "string", enum: [...REASONS] } },
    },
  },
  decide: {
    summary: "Decide and count; the full Decision",
    body: callBody,
    response: decisionRef,
  },
  record: {
    summary: "Record an event after the work was done (Check -> Call -> Record)",
    body: {
      type: "object",
      required: ["type", "customer"],
      additionalProperties: false,
      properties: {
        id: { ...id, description: "Event id: recording the same id twice counts once (R13)." },
        type: name,
        customer: name,
        timestamp: { type: ["string", "number"], description: "ISO-8601 or epoch ms; default now." },
        value: { type: "number" },
        properties,
      },
    },
    response: {
      type: "object",
      required: ["id", "duplicate", "counted", "version", "digest"],
      properties: {
        id: { type: "string" },
        duplicate: { type: "boolean" },
        counted: {
          type: "array",
          items: {
            type: "object",
            required: ["entitlement", "amount", "used", "limit", "overage"],
            properties: {
              entitlement: { type: "string" },
              amount: { type: "number" },
              used: { type: "number" },
              limit: { type: ["number", "null"] },
              overage: { type: "number" },
            },
          },
        },
        version: { type: "integer" },
        digest: { type: "string" },
      },
    },
  },
  reserve: {
    summary: "Hold units against the limit until settled, released or expired (R8)",
    body: {
      type: "object",
      required: ["customer", "entitlement", "amount"],
      additionalProperties: false,
      properties: {
        customer: name,
        entitlement: name,
        amount: { type: "number", exclusiveMinimum: 0 },
        ttlMs: { type: "integer", minimum: 1, maximum: 604_800_000, default: 60_000 },
      },
    },
    response: {
      type: "object",
      required: ["allowed"],
      properties: {
        allowed: { type: "boolean" },
        reason: { type: "string", enum: [...REASONS] },
        hold: { $ref: "Hold#" },
      },
    },
  },
  settle: {
    summary: "Count the actual usage of a hold and free it (even past the limit)",
    body: {
      type: "object",
      required: ["hold", "actual"],
      additionalProperties: false,
      properties: {
        hold: { ...id, description: "The id reserve returned." },
        actual: { type: "number", minimum: 0 },
        properties,
      },
    },
    response: decisionRef,
  },
  release: {
    summary: "Free a hold without counting anything",
    body: {
      type: "object",
      required: ["hold"],
      additionalProperties: false,
      properties: { hold: { ...id, description: "The id reserve returned." } },
    },
    response: {
      type: "object",
      required: ["released"],
      properties: {
        released: { type: "boolean", description: "false: the hold had already expired" },
      },
    },
  },
} as const;

export type OperationName = keyof typeof OPERATIONS;
export const OPERATION_NAMES = Object.keys(OPERATIONS) as OperationName[];

/** Most calls one batch may carry. */
export const MAX_BATCH = 1000;

export const batchBody = {
  type: "object",
  required: ["calls"],
  additionalProperties: false,
  properties: {
    calls: {
      type: "array",
      maxItems: MAX_BATCH,
      items: {
        type: "object",
        required: ["op", "body"],
        additionalProperties: false,
        properties: {
          op: { type: "string", enum: OPERATION_NAMES },
          body: { type: "object", description: "The body the operation's own endpoint takes." },
        },
      },
    },
  },
} as const;

export const batchResponse = {
  type: "object",
  required: ["results"],
  properties: {
    results: {
      type: "array",
      description: "One per call, in order: the status and body its own endpoint would have answered.",
      items: {
        type: "object",
        required: ["status", "body"],
        properties: {
          status: { type: "integer" },
          body: { type: "object", additionalProperties: true },
        },
      },
    },
  },
} as const;

export const customerUsageResponse = {
  type: "object",
  required: ["customer", "entitlements", "version", "digest"],
  properties: {
    customer: { type: "string" },
    entitlements: {
      type: "array",
      items: {
        type: "object",
        required: ["entitlement", "kind", "used", "held", "limit", "remaining", "resetsAt"],
        properties: {
          entitlement: { type: "string" },
          kind: { type: "string", enum: ["metered", "flag"] },
          enabled: { type: "boolean", description: "Flags only." },
          used: { type: "number" },
          held: { type: "number" },
          limit: { type: ["number", "null"] },
          remaining: { type: ["number", "null"] },
          resetsAt: { type: ["integer", "null"] },
        },
      },
    },
    version: { type: "integer" },
    digest: { type: "string" },
  },
} as const;

export const meterQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    customer: name,
    period: { type: "string", description: "2026-10, 2026-Q4, 2026 or a date; default all time." },
    from: { type: "string", description: "ISO time, inclusive (with to)." },
    to: { type: "string", description: "ISO time, exclusive (with from)." },
    group_by: { type: "string", description: "customer (default), meter, day or an event property." },
  },
} as const;

export const meterResponse = {
  type: "object",
  required: ["meter", "groupBy", "period", "rows"],
  properties: {
    meter: { type: "string" },
    groupBy: { type: "string" },
    period: { type: ["string", "null"] },
    rows: {
      type: "array",
      description: "What `limitr usage query --meter M --format json` prints.",
      items: { type: "object", additionalProperties: { type: ["string", "number"] } },
    },
  },
} as const;

const decimal = {
  type: "string",
  pattern: "^-?\\d+(\\.\\d+)?$",
  description: "Exact decimal, in the wallet's unit.",
} as const;

export const balanceResponse = {
  type: "object",
  required: ["customer", "unit", "balance", "available", "minimum", "reserved", "grants"],
  properties: {
    customer: { type: "string" },
    unit: { type: "string", description: "The policy currency (money) or a unit of account." },
    balance: decimal,
    available: { ...decimal, description: "balance - minimum - reserved: what calls can still spend." },
    minimum: decimal,
    reserved: decimal,
    grants: {
      type: "array",
      description: "Funds by lot (grants, top-ups, adjustments) in burn order (R12).",
      items: {
        type: "object",
        required: ["id", "source", "remaining", "priority", "expiresAt", "createdAt"],
        properties: {
          id: { type: "string" },
          source: { type: "string" },
          remaining: decimal,
          priority: { type: "integer" },
          expiresAt: { type: ["string", "null"], format: "date-time" },
          createdAt: { type: "string", format: "date-time" },
        },
      },
    },
  },
} as const;

const transaction = {
  type: "object",
  required: ["id", "customer", "kind", "at", "amount", "balanceAfter", "bundleVersion"],
  properties: {
    id: { type: "string" },
    customer: { type: "string" },
    kind: { type: "string", enum: ["credit", "debit", "grant", "expiry", "rollover", "adjustment"] },
    at: { type: "integer", description: "Epoch ms." },
    amount: { ...decimal, description: "Signed change of the balance." },
    balanceAfter: decimal,
    bundleVersion: { type: "integer" },
    lot: { type: ["string", "null"] },
    entitlement: { type: ["string", "null"] },
    note: { type: ["string", "null"] },
  },
} as const;

export const topUpBody = {
  type: "object",
  required: ["amount"],
  additionalProperties: false,
  properties: {
    amount: {
      type: ["string", "number"],
      description: "Funds to add, > 0, in the wallet's unit (a decimal string keeps it exact).",
    },
    id: { ...name, description: "Idempotency key: a repeated id credits once (R17)." },
    expiresAt: { type: "string", format: "date-time", description: "When these funds expire." },
    priority: { type: "integer", minimum: 0, description: "Burn order (lower first, R12)." },
    note: { type: "string", maxLength: 1000 },
  },
} as const;

export const topUpResponse = {
  type: "object",
  required: ["transaction", "duplicate"],
  properties: {
    transaction,
    duplicate: { type: "boolean", description: "The id was credited before: nothing was added." },
  },
} as const;

export const transactionsQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    from: { type: "string", description: "ISO time, inclusive." },
    to: { type: "string", description: "ISO time, exclusive." },
  },
} as const;

export const transactionsResponse = {
  type: "object",
  required: ["customer", "transactions"],
  properties: { customer: { type: "string" }, transactions: { type: "array", items: transaction } },
} as const;
