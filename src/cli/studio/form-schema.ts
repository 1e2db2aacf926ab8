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
  kind: "count" | "decimal" | "choice";
  choices?: string[];
  help: string;
  /** What an empty field means (the schema's default, or that the key is left out). */
  empty: string;
}

type Schema = { $ref?: string; description?: string; title?: string; enum?: string[]; default?: unknown };
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
