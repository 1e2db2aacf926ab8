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
  | {
      kind: "metered";
      meter: string;
      limit: string;
      mode: string;
      period: string;
      price: string;
      tiered: boolean;
    };

export interface PlanRow {
  id: string;
  name: string;
  fee: string;
  wallet: string | null;
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
  kind: "count" | "decimal" | "choice" | "date" | "text";
  choices?: string[];
  help: string;
  empty: string;
}

export interface GitStatus {
  branch: string;
  defaultBranch: string;
  changedFiles: string[];
}

export interface RowForm {
  def: string;
  fields: (FormField & { required: boolean })[];
}

export interface PolicyResponse {
  overview: Overview | null;
  diagnostics: Diagnostic[];
  fields: FormField[];
  forms: Record<string, RowForm>;
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
  pushed: boolean;
  remote: string | null;
  pullRequestUrl: string | null;
}

export type {
  CustomersAnswer as CustomersResponse,
  CustomerUsage,
  UsageLine,
  WalletLine,
} from "../../cli/studio/api-types.js";

export interface InvoiceJson {
  number: string;
  customer: string;
  plan: string | null;
  lines: { kind: string; description: string; quantity: string | null; amount: string }[];
  subtotal: string;
  discount: string;
  credits_applied: string;
  total: string;
}

export type InvoiceResponse =
  | { available: true; period: string; invoice: InvoiceJson | null }
  | { available: false; reason: string };

export interface PolicyCommit {
  commit: string;
  date: string;
  author: string;
  subject: string;
  files: string[];
}

export interface BundleVersion {
  version: number;
  current: boolean;
  manifest: {
    version: number;
    digest: string;
    createdAt: string;
    createdBy: string;
    rollbackOf: number | null;
    source: { commit: string | null; ref: string | null; dirty: boolean } | null;
  } | null;
}

export interface HistoryResponse {
  commits: PolicyCommit[];
  environments: string[];
  bundles: {
    environment: string;
    store: string;
    currentVersion: number | null;
    pinned: { version: number; reason: string } | null;
    versions: BundleVersion[];
  } | null;
  bundlesError: string | null;
}

/** The metered entitlement being edited, with the values as the form holds them. */
export interface Editing {
  plan: string;
  entitlement: string;
  values: Record<string, string>;
}

export interface SimulationPlan {
  plan: string;
  name: string;
  base_revenue: string;
  head_revenue: string;
  base_margin: string;
  head_margin: string;
  base_denied: number;
  head_denied: number;
  revenue_change: string;
  revenue_change_pct: number | null;
}

export type SimulationResponse =
  | { available: false; reason: string }
  | {
      available: true;
      base: { ref: string };
      period: { label: string; start: string; end: string };
      currency: string;
      events: number;
      totals: {
        base_revenue: string;
        head_revenue: string;
        revenue_change: string;
        revenue_change_pct: number | null;
        base_margin: string;
        head_margin: string;
        base_denied: number;
        head_denied: number;
        customers_affected: number;
      };
      plans: SimulationPlan[];
      movers: {
        up: { customer: string; revenue_change: string }[];
        down: { customer: string; revenue_change: string }[];
      };
    };
