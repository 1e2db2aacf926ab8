/** The studio API's JSON, as `src/cli/studio/server.ts` sends it. */
export interface Diagnostic {
  severity: "error" | "warning";
  code: string;
  message: string;
  file: string;
  line: number;
  column: number;
  path: string;
  hint?: string;
}

export type EntitlementCell =
  | { kind: "flag"; enabled: boolean }
  | { kind: "metered"; meter: string; limit: string; mode: string; period: string; price: string };

export interface PlanRow {
  id: string;
  name: string;
  fee: string;
  entitlements: Record<string, EntitlementCell>;
}

export interface Overview {
  name: string;
  currency: string;
  plans: PlanRow[];
  entitlements: string[];
  meters: { id: string; description: string; unit: string; aggregation: string; events: string[] }[];
  customers: { id: string; plan: string; parent: string | null; since: string | null; terms: string[] }[];
}

export interface FormField {
  key: string;
  label: string;
  kind: "count" | "decimal" | "choice";
  choices?: string[];
  help: string;
  empty: string;
}

export interface GitStatus {
  branch: string;
  defaultBranch: string;
  changedFiles: string[];
}

export interface PolicyResponse {
  overview: Overview | null;
  diagnostics: Diagnostic[];
  fields: FormField[];
  git: GitStatus | null;
}

export interface CheckResponse {
  file: string;
  diagnostics: Diagnostic[];
  valid: boolean;
  overview: Overview | null;
}

export interface Change {
  kind: "add" | "remove" | "change";
  path: string;
  resource: string;
  before: unknown;
  after: unknown;
  breaking: boolean;
  reason: string | null;
}

export interface DiffResponse {
  base: { ref: string; commit: string | null };
  head: { ref: string };
  changes: Change[];
  summary: { add: number; change: number; remove: number; breaking: number };
}

export interface SaveResponse {
  branch: string;
  commit: string;
  files: string[];
}

/** The metered entitlement being edited, with the values as the form holds them. */
export interface Editing {
  plan: string;
  entitlement: string;
  values: Record<string, string>;
}
