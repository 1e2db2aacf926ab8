/** One difference between two compiled policies, at one path of the model. */
export interface PolicyChange {
  kind: "add" | "remove" | "change";
  /** Dotted path into the compiled model: `plans.pro.entitlements.chat_input.limit`, `...tiers[1].unitPrice`. */
  path: string;
  /** Path segments (ids are never split, even when they contain dots). */
  segments: string[];
  /** The resource the change belongs to (`plans.pro`, `plans.pro.entitlements.chat_input`, `policy`). */
  resource: string;
  /** Value before (null when added) and after (null when removed). */
  before: unknown;
  after: unknown;
  /** True when the change can make an existing customer pay more or get less. */
  breaking: boolean;
  /** Why it is breaking, or a note for non-breaking changes worth a word; null otherwise. */
  reason: string | null;
}

export interface DiffSummary {
  /** Resources added, changed and removed (Terraform-style counts). */
  add: number;
  change: number;
  remove: number;
  /** Changes flagged breaking. */
  breaking: number;
}

export interface PolicyDiff {
  changes: PolicyChange[];
  summary: DiffSummary;
}
