import { ALERT_VARIABLES, alertEnvironment, isSimpleRule } from "../alerts/rules.js";
import type { Diagnostic } from "./diagnostics.js";
import { locate, pointer } from "./locations.js";
import {
  entriesOf,
  idsOf,
  listNames,
  listOf,
  mapOf,
  problem,
  type Rule,
  type RuleContext,
  str,
} from "./rule-context.js";
import { didYouMean } from "./suggest.js";

/** Alerts may only name channels, plans, customers and entitlements the policy defines. */
export const alertRefsExist: Rule = (ctx) => {
  const channels = idsOf(ctx, "channels");
  const plans = idsOf(ctx, "plans");
  const customers = idsOf(ctx, "customers");
  const entitlements = new Set(
    Object.values(mapOf(ctx.raw.plans)).flatMap((p) => Object.keys(mapOf(mapOf(p).entitlements))),
  );
  const out: Diagnostic[] = [];
  for (const [id, a] of entriesOf(ctx.raw.alerts)) {
    const alert = mapOf(a);
    const refs = (key: string, known: ReadonlySet<string>, code: string, what: string) => {
      const value = alert[key];
      const names =
        typeof value === "string"
          ? [[value, [key]] as const]
          : listOf(value).map((v, i) => [v, [key, i]] as const);
      for (const [name, sub] of names) {
        if (typeof name !== "string" || known.has(name)) continue;
        out.push(
          problem(ctx, ["alerts", id, ...sub], {
            code,
            message: `alerts.${id} refers to ${what} "${name}", which is not defined`,
            hint: didYouMean(name, known) ?? `known: ${listNames(known)}`,
          }),
        );
      }
    };
    refs("channels", channels, "ref/unknown-channel", "channel");
    refs("plans", plans, "ref/unknown-plan", "plan");
    refs("customers", customers, "ref/unknown-customer", "customer");
    refs("entitlement", entitlements, "ref/unknown-entitlement", "entitlement");
  }
  return out;
};

const UNKNOWN_VARIABLE = /^Unknown variable: ([\w.]+)/;

/** `when` parses as CEL, uses only the variables of SPEC §2.5, and yields a bool. */
export const alertConditionsCheck: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const variables = Object.keys(ALERT_VARIABLES);
  for (const [id, a] of entriesOf(ctx.raw.alerts)) {
    const when = str(mapOf(a).when);
    if (when === null || when.trim() === "" || isSimpleRule(when)) continue;
    const result = alertEnvironment().check(when) as {
      valid: boolean;
      type?: string;
      error?: { name?: string; message?: string; node?: { pos?: number }; pos?: number };
    };
    const path = ["alerts", id, "when"];
    if (result.valid) {
      if (result.type !== "bool" && result.type !== "dyn") {
        out.push(
          problem(ctx, path, {
            code: "alert/cel-type",
            message: `alerts.${id}.when yields ${result.type}, not a condition`,
            hint: "compare it, e.g. `usage_percent >= 80`",
          }),
        );
      }
      continue;
    }
    const message = (result.error?.message ?? "invalid expression").split("\n")[0] ?? "";
    const offset = result.error?.node?.pos ?? result.error?.pos ?? 0;
    const unknown = UNKNOWN_VARIABLE.exec(message)?.[1];
    const d =
      result.error?.name === "ParseError"
        ? problem(ctx, path, {
            code: "alert/cel-syntax",
            message: `alerts.${id}.when is not a valid CEL expression: ${message}`,
            hint: "see https://cel.dev for the syntax; strings need quotes",
          })
        : unknown !== undefined
          ? problem(ctx, path, {
              code: "alert/cel-unknown-variable",
              message: `alerts.${id}.when uses unknown variable "${unknown}"`,
              hint: didYouMean(unknown, variables) ?? `available: ${variables.join(", ")}`,
            })
          : problem(ctx, path, {
              code: "alert/cel-type",
              message: `alerts.${id}.when does not type-check: ${message}`,
            });
    out.push(atOffset(ctx, path, d, offset));
  }
  return out;
};

/** Point inside a one-line `when` at the offending character. */
function atOffset(ctx: RuleContext, path: (string | number)[], d: Diagnostic, offset: number): Diagnostic {
  const loc = locate(ctx.locations, pointer(path));
  if (!loc || offset <= 0) return d;
  if (loc.style === "PLAIN") return { ...d, column: d.column + offset };
  if (loc.style === "QUOTE_DOUBLE" || loc.style === "QUOTE_SINGLE")
    return { ...d, column: d.column + 1 + offset };
  return d;
}

const ENV_REF = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/;

/**
 * Secrets are `${ENV}` references, never literals (SPEC §2.5). A `secret` must
 * reference the environment; so must a Slack URL (the URL is the credential);
 * any URL embedding a password in its user-info does too. A plain https
 * webhook URL is an address, not a secret.
 */
export const noLiteralSecrets: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [id, ch] of entriesOf(ctx.raw.channels)) {
    const channel = mapOf(ch);
    const secret = str(channel.secret);
    if (secret !== null && !ENV_REF.test(secret)) {
      out.push(literal(ctx, id, "secret", "LIMITR_WEBHOOK_SECRET"));
    }
    const url = str(channel.url);
    if (url === null || ENV_REF.test(url)) continue;
    if (channel.type === "slack" || /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i.test(url)) {
      out.push(literal(ctx, id, "url", channel.type === "slack" ? "SLACK_WEBHOOK_URL" : "LIMITR_SMTP_URL"));
    }
  }
  return out;
};

function literal(ctx: RuleContext, id: string, key: string, example: string): Diagnostic {
  return problem(ctx, ["channels", id, key], {
    severity: "warning",
    code: "channel/literal-secret",
    message: `channels.${id}.${key} holds a literal secret; it will be committed to git and published in bundles`,
    hint: `reference the environment instead: "\${${example}}"`,
  });
}

export const alertRules: Rule[] = [alertRefsExist, alertConditionsCheck, noLiteralSecrets];
