/**
 * Policy tests: scripted scenarios run against the policy with a fresh
 * store, each step's outcome compared with a partial expectation. This file
 * is the parsed form of `policies/tests/*.yaml` (see docs/policy-tests.md).
 */

/** An expected value as written: numbers keep their source text so money never passes through a float. */
export type Expected =
  | { kind: "null" }
  | { kind: "boolean"; value: boolean }
  | { kind: "number"; text: string }
  | { kind: "string"; value: string }
  | { kind: "map"; fields: ExpectedField[] };

export interface ExpectedField {
  name: string;
  value: Expected;
  line: number;
}

export interface CallStep {
  kind: "call" | "check";
  customer: string;
  entitlement: string;
  amount: number;
  id?: string;
  properties?: Record<string, string | number | boolean>;
}

export interface EventStep {
  kind: "event";
  type: string;
  customer: string;
  id?: string;
  /** ISO-8601 or epoch ms; the step's `at` when absent. */
  timestamp?: string | number;
  value?: number;
  properties?: Record<string, string | number | boolean>;
}

export interface UsageStep {
  kind: "usage";
  customer: string;
  entitlement: string;
}

export interface PlanStep {
  kind: "plan";
  customer: string;
  plan: string;
  /** `add_ons`: the whole add-on set held from the step on; absent = keep those held. */
  addOns?: string[];
}

/** A reservation (R8); `as` names the hold for a later `settle` or `release` in the same case. */
export interface ReserveStep {
  kind: "reserve";
  customer: string;
  entitlement: string;
  amount: number;
  ttlMs?: number;
  as?: string;
}

export interface SettleStep {
  kind: "settle";
  hold: string;
  actual: number;
}

export interface ReleaseStep {
  kind: "release";
  hold: string;
}

export type Action = CallStep | EventStep | UsageStep | PlanStep | ReserveStep | SettleStep | ReleaseStep;

export interface Step {
  /** 1-based position in the case. */
  index: number;
  line: number;
  /** As written: ISO-8601 (offset-less times are read in the policy timezone). */
  at: string;
  action: Action;
  /** Run the action this many times, `everyMs` apart; `expect` describes the last run. */
  repeat: number;
  everyMs: number;
  expect: ExpectedField[];
}

export interface StoreCustomer {
  id: string;
  plan: string;
  /** `add_ons`: add-on plans held beside `plan` (SPEC §15); absent = none. */
  addOns?: string[];
  at: string;
  line: number;
}

export interface InvoiceExpectation {
  customer: string;
  line: number;
  /** null: the customer must have no invoice in the period. */
  fields: ExpectedField[] | null;
}

export interface InvoiceSpec {
  period: string;
  line: number;
  expect: InvoiceExpectation[];
}

export interface TestCase {
  name: string;
  description: string | null;
  file: string;
  line: number;
  customers: StoreCustomer[];
  steps: Step[];
  invoice: InvoiceSpec | null;
}

/** Where a failure happened: a step (1-based), the `customers:` setup, the `invoice:`, or the case as a whole. */
export type FailurePlace = number | "customers" | "invoice" | "case";

/** One expectation that did not hold. */
export interface Failure {
  step: FailurePlace;
  /** Line of the step (or of `invoice:` / `customers:`) in the test file. */
  line: number;
  /** Line of the expectation itself. */
  fieldLine: number;
  /** Dotted path of the field: `remaining`, `globex.lines.chat_input`. */
  field: string;
  expected: unknown;
  got: unknown;
}

export type CaseStatus = "passed" | "failed";

export interface CaseResult {
  name: string;
  description: string | null;
  file: string;
  line: number;
  status: CaseStatus;
  failures: Failure[];
  durationMs: number;
}

export interface TestSummary {
  files: number;
  total: number;
  passed: number;
  failed: number;
}

export function summarizeResults(results: readonly CaseResult[], files: number): TestSummary {
  const passed = results.filter((r) => r.status === "passed").length;
  return { files, total: results.length, passed, failed: results.length - passed };
}
