import { POLICY_SCHEMA } from "limitr-engine/core/policy-types.generated";

/**
 * Form fields read from schemas/policy.schema.json, so the studio's forms
 * follow the policy language: a new mode in the schema's enum shows up as a
 * new choice, a changed description as new help text.
 */
export interface FormField {
  key: string;
  label: string;
  /** count: whole units; decimal: exact money; choice: one of `choices`. */
  kind: "count" | "decimal" | "choice" | "date" | "text";
  choices?: string[];
  help: string;
  /** What an empty field means (the schema's default, or that the key is left out). */
  empty: string;
}

type Schema = {
  $ref?: string;
  description?: string;
  title?: string;
  enum?: string[];
  default?: unknown;
  type?: string | string[];
  anyOf?: Schema[];
  required?: string[];
};
type Defs = Record<string, Schema & { properties?: Record<string, Schema> }>;

const defs = (POLICY_SCHEMA as { $defs: Defs }).$defs;

function resolved(s: Schema): Schema {
  const target = s.$ref ? defs[s.$ref.replace("#/$defs/", "")] : undefined;
  return target ? { ...resolved(target), ...s, $ref: undefined } : s;
}

const LABELS: Record<string, string> = {
  limit: "Included units per period",
  mode: "What happens past the limit",
  overage: "Price per unit past the limit",
};

const EMPTY: Record<string, string> = {
  limit: "no limit",
  overage: "not charged past the limit",
};

/** The fields of a metered entitlement the studio edits: limit, mode and overage price. */
export function entitlementFields(): FormField[] {
  const props = defs.MeteredEntitlement?.properties ?? {};
  return ["limit", "mode", "overage"].map((key) => {
    const s = resolved(props[key] ?? {});
    const kind = s.enum ? "choice" : key === "limit" ? "count" : "decimal";
    return {
      key,
      label: LABELS[key] ?? key,
      kind,
      ...(s.enum ? { choices: s.enum } : {}),
      help: s.description ?? s.title ?? "",
      empty: s.default !== undefined ? `${String(s.default)} (the default)` : (EMPTY[key] ?? "left out"),
    };
  });
}

/** The row forms: a tier, a contract's override, discount and credit, a wallet grant. */
export interface RowForm {
  /** The schema definition the fields come from. */
  def: string;
  fields: (FormField & { required: boolean })[];
}

const ROW_LABELS: Record<string, Record<string, string>> = {
  Tier: { up_to: "Up to (units)", unit_price: "Price per unit", flat_fee: "Flat fee" },
  Override: {
    limit: "Included units per period",
    mode: "What happens past the limit",
    overage: "Price per unit past the limit",
    expires: "Until (date)",
  },
  Discount: { entitlement: "On entitlement", percent: "Percent off" },
  Credit: { amount: "Amount", priority: "Priority", starts: "From (date)", expires: "Until (date)" },
  WalletGrant: { amount: "Amount granted", every: "Every", expires_after: "Each grant expires after" },
};

const ROW_EMPTY: Record<string, string> = {
  up_to: "no upper bound (the last tier)",
  flat_fee: "none",
  limit: "the plan's",
  mode: "the plan's",
  overage: "the plan's",
  expires: "never",
  starts: "at once",
  entitlement: "the whole invoice",
  priority: "0",
  expires_after: "never",
};

function kindOf(key: string, s: Schema): FormField["kind"] {
  const choices = s.enum ?? s.anyOf?.find((a) => a.enum)?.enum;
  if (choices && !s.anyOf) return "choice";
  if (s.$ref === "#/$defs/IsoDate" || key === "expires" || key === "starts") return "date";
  if (key === "entitlement" || s.anyOf || key === "expires_after") return "text";
  if (key === "up_to" || key === "limit" || key === "priority") return "count";
  return "decimal";
}

/** Every row form, each field's kind, choices and help read from schemas/policy.schema.json. */
export function formSchemas(): Record<string, RowForm> {
  return Object.fromEntries(
    Object.entries(ROW_LABELS).map(([def, labels]) => {
      const d = defs[def] ?? {};
      const props = d.properties ?? {};
      const required = new Set(d.required ?? []);
      return [
        def,
        {
          def,
          fields: Object.keys(labels).map((key) => {
            const raw = props[key] ?? {};
            const s = resolved(raw);
            const kind = kindOf(key, raw.$ref ? { ...s, $ref: raw.$ref } : s);
            const choices = s.enum ?? s.anyOf?.find((a) => a.enum)?.enum;
            return {
              key,
              label: labels[key] ?? key,
              kind,
              ...(choices ? { choices } : {}),
              help: s.description ?? s.title ?? "",
              empty: required.has(key) ? "required" : (ROW_EMPTY[key] ?? "left out"),
              required: required.has(key),
            };
          }),
        },
      ];
    }),
  );
}
