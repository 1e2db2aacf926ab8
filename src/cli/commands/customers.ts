import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { openUsageStore } from "limitr-engine/adapters/store/open-usage-store";
import { addOnSet } from "limitr-engine/core/add-ons";
import { customerCurrency, planInCurrency } from "limitr-engine/core/currencies";
import { InputError, UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { ISO_4217 } from "limitr-engine/core/money";
import { parseInstant } from "limitr-engine/core/periods";
import { didYouMean } from "limitr-engine/core/policy/suggest";
import { addOnsAt, customerPlans, planAt } from "limitr-engine/core/rating/customers";
import type { SubscriptionRow, UsageStore } from "limitr-engine/core/usage/store-port";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain, type View } from "../render/view.js";
import { loadPolicy } from "./usage-common.js";

/** `customers set|list|import`: self-serve plan history in the store; contracts stay in the policy. */

function openStore(options: Record<string, unknown>, ctx: CliContext, create: boolean): Promise<UsageStore> {
  return openUsageStore(String(options.db), { create, cwd: ctx.cwd });
}

function instant(text: string | undefined, zone: string, flag: string): number {
  if (text === undefined) return Date.now();
  const ms = parseInstant(text, zone);
  if (ms === null) throw new UsageError(`bad ${flag} ${text} (expected an ISO time, a date or epoch ms)`);
  return ms;
}

/** The plan the store (or the default plan) puts the customer on at `at`. */
function currentPlan(
  policy: CompiledPolicy,
  id: string,
  history: Map<string, SubscriptionRow[]>,
  at: number,
): string | null {
  const plans = customerPlans(policy, id, history.get(id));
  return plans ? planAt(plans, at) : null;
}

/** Why `plan` cannot be held as a base plan, or null when it can. */
function basePlanProblem(policy: CompiledPolicy, plan: string): string | null {
  if (!Object.hasOwn(policy.plans, plan)) return `unknown plan "${plan}" (plans: ${basePlans(policy)})`;
  if (policy.plans[plan]?.addOn)
    return `"${plan}" is an add-on, not a plan: hold it with --add-on beside a plan`;
  return null;
}

/** Why `addOn` cannot be held as an add-on, or null when it can. */
function addOnProblem(policy: CompiledPolicy, addOn: string): string | null {
  const addOns = Object.values(policy.plans)
    .filter((p) => p.addOn)
    .map((p) => p.id);
  const known = addOns.length > 0 ? addOns.join(", ") : "none: mark a plan `add_on: true`";
  if (!Object.hasOwn(policy.plans, addOn)) return `unknown add-on "${addOn}" (add-ons: ${known})`;
  if (!policy.plans[addOn]?.addOn) return `plan "${addOn}" is not an add-on (add-ons: ${known})`;
  return null;
}

function basePlans(policy: CompiledPolicy): string {
  return Object.values(policy.plans)
    .filter((p) => !p.addOn)
    .map((p) => p.id)
    .join(", ");
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)];
}

function currencyFlag(value: unknown): string | null {
  if (value === undefined) return null;
  const code = String(value).toUpperCase();
  if (!ISO_4217.has(code))
    throw new UsageError(
      `--currency: ${String(value)} is not an ISO 4217 currency code` +
        (didYouMean(code, ISO_4217) ? ` (${didYouMean(code, ISO_4217)})` : ""),
    );
  return code;
}

/** The plan a customer is on in `currency` must have prices in it (they are never converted), and no wallet outside the policy currency. */
function checkPriced(policy: CompiledPolicy, id: string, planId: string, currency: string): void {
  const plan = policy.plans[planId];
  if (!plan) return;
  if (planInCurrency(policy, plan, currency) === null) {
    const lists = [policy.currency, ...Object.keys(plan.currencies ?? {})].join(", ");
    throw new UsageError(
      `${id} is invoiced in ${currency} but plan ${planId} has no ${currency} prices (it has ${lists}): ` +
        `add plans.${planId}.currencies.${currency} to the policy`,
    );
  }
  if (plan.wallet !== undefined && currency !== policy.currency)
    throw new UsageError(
      `plan ${planId} has a wallet, which is kept in ${policy.currency}: ${id} cannot be invoiced in ${currency}`,
    );
}

export async function runSet(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const id = String((options.args as unknown[])[0]);
  const policy = loadPolicy(options, ctx);
  const given = options.plan as string | undefined;
  const adding = list(options.addOn);
  const removing = list(options.removeAddOn);
  const currency = currencyFlag(options.currency);
  const changesPlan = given !== undefined || adding.length > 0 || removing.length > 0;
  if (!changesPlan && !options.stripeCustomer && currency === null)
    throw new UsageError(
      "--plan P is required (or --add-on/--remove-add-on A, --currency C, --stripe-customer ID)",
    );
  if (given !== undefined) {
    const problem = basePlanProblem(policy, given);
    if (problem) throw new UsageError(`--plan: ${problem}`);
  }
  for (const a of adding) {
    const problem = addOnProblem(policy, a);
    if (problem) throw new UsageError(`--add-on: ${problem}`);
  }
  const both = adding.find((a) => removing.includes(a));
  if (both) throw new UsageError(`--add-on ${both} and --remove-add-on ${both} contradict each other`);
  const at = instant(options.at as string | undefined, policy.timezone, "--at");
  const db = await openStore(options, ctx, true);
  let plan: string | null = null;
  let addOns: string[] = [];
  try {
    const stripe: [string, string][] = options.stripeCustomer ? [[id, String(options.stripeCustomer)]] : [];
    if (changesPlan) {
      // Add-ons are changed relative to what the store holds at --at; --plan alone keeps them.
      const recorded = (await db.planHistory()).get(id) ?? [];
      const current = [...recorded].reverse().find((r) => r.at <= at);
      plan = given ?? current?.plan ?? null;
      if (plan === null)
        throw new UsageError(
          `${id} has no plan in the store at ${new Date(at).toISOString()}: give --plan P`,
        );
      const missing = removing.find((a) => !(current?.addOns ?? []).includes(a));
      if (missing) throw new UsageError(`--remove-add-on: ${id} does not hold add-on "${missing}"`);
      addOns = addOnSet([...(current?.addOns ?? []), ...adding].filter((a) => !removing.includes(a)));
      if (policy.customers[id]?.plan) {
        ctx.warn(
          `note: ${id} has a contract plan (${policy.customers[id]?.plan}) in the policy, which wins over the store`,
        );
      }
    }
    const contractCurrency = policy.customers[id]?.currency;
    if (currency !== null && contractCurrency !== undefined && contractCurrency !== currency)
      ctx.warn(
        `note: ${id} has a contract currency (${contractCurrency}) in the policy, which wins over the store`,
      );
    const invoiced = customerCurrency(policy, id, currency ?? (await db.customerCurrencies()).get(id));
    const onPlan = plan ?? policy.customers[id]?.plan ?? currentPlan(policy, id, await db.planHistory(), at);
    if (onPlan !== null) checkPriced(policy, id, onPlan, invoiced);
    for (const a of addOns) checkPriced(policy, id, a, invoiced);
    const rows = plan === null ? [] : [{ customer: id, plan, at, ...(addOns.length > 0 ? { addOns } : {}) }];
    await db.setPlans(rows, Date.now(), stripe);
    if (currency !== null) await db.setCurrencies([[id, currency]]);
  } finally {
    await db.close();
  }
  const result = {
    formatVersion: 1,
    customer: id,
    plan,
    addOns,
    currency,
    at: new Date(at).toISOString(),
  };
  return {
    output:
      options.format === "json"
        ? JSON.stringify(result)
        : plan
          ? `${id}: ${[plan, ...addOns].join(" + ")} from ${result.at}${currency ? ` in ${currency}` : ""}`
          : currency
            ? `${id}: invoiced in ${currency}`
            : `${id}: updated`,
    exitCode: 0,
  };
}

export async function runImport(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const file = resolve(ctx.cwd, String((options.args as unknown[])[0]));
  const policy = loadPolicy(options, ctx);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? "").split(",").map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  if (col("customer") < 0 || col("plan") < 0 || col("at") < 0) {
    throw new InputError(
      `${file}:1: header must have customer, plan, at (and optionally add_ons, stripe_customer_id, currency)`,
    );
  }
  const rows: SubscriptionRow[] = [];
  const stripe: [string, string][] = [];
  const currencies: [string, string][] = [];
  const problems: string[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const cells = line.split(",").map((c) => c.trim());
    const customer = cells[col("customer")] ?? "";
    const plan = cells[col("plan")] ?? "";
    const at = parseInstant(cells[col("at")] ?? "", policy.timezone);
    // add_ons: add-on ids separated by ";" (the comma separates cells).
    const addOns = addOnSet(
      (col("add_ons") >= 0 ? (cells[col("add_ons")] ?? "") : "")
        .split(";")
        .map((a) => a.trim())
        .filter((a) => a !== ""),
    );
    const planProblem = customer ? basePlanProblem(policy, plan) : null;
    const addOnProblems = addOns.map((a) => addOnProblem(policy, a)).filter((p) => p !== null);
    if (!customer) problems.push(`${file}:${i + 2}: missing customer`);
    else if (planProblem) problems.push(`${file}:${i + 2}: ${planProblem}`);
    else if (addOnProblems.length > 0) problems.push(`${file}:${i + 2}: ${addOnProblems[0]}`);
    else if (at === null) problems.push(`${file}:${i + 2}: bad time "${cells[col("at")]}"`);
    else rows.push({ customer, plan, at, ...(addOns.length > 0 ? { addOns } : {}) });
    const sc = col("stripe_customer_id") >= 0 ? cells[col("stripe_customer_id")] : undefined;
    if (customer && sc) stripe.push([customer, sc]);
    const code = col("currency") >= 0 ? cells[col("currency")]?.toUpperCase() : undefined;
    if (customer && code) {
      const plan = policy.plans[policy.customers[customer]?.plan ?? cells[col("plan")] ?? ""];
      const currency = customerCurrency(policy, customer, code);
      if (!ISO_4217.has(code)) problems.push(`${file}:${i + 2}: currency "${code}" is not an ISO 4217 code`);
      else if (plan && planInCurrency(policy, plan, currency) === null)
        problems.push(
          `${file}:${i + 2}: plan ${plan.id} has no ${currency} prices (add plans.${plan.id}.currencies.${currency})`,
        );
      else currencies.push([customer, code]);
    }
  });
  if (problems.length > 0) {
    for (const p of problems) ctx.warn(p);
    throw new InputError(`${problems.length} bad row(s) in ${file}; nothing was imported`);
  }
  const db = await openStore(options, ctx, true);
  try {
    await db.setPlans(rows, Date.now(), stripe);
    if (currencies.length > 0) await db.setCurrencies(currencies);
  } finally {
    await db.close();
  }
  const customers = new Set(rows.map((r) => r.customer)).size;
  return {
    output:
      options.format === "json"
        ? JSON.stringify({ formatVersion: 1, rows: rows.length, customers })
        : `recorded ${rows.length} plan changes for ${customers} customers`,
    exitCode: 0,
  };
}

export async function runList(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const policy = loadPolicy(options, ctx);
  const at = instant(options.at as string | undefined, policy.timezone, "--at");
  const db = await openStore(options, ctx, false);
  let history: Map<string, SubscriptionRow[]>;
  let stripe: Map<string, string>;
  let currencies: Map<string, string>;
  try {
    history = await db.planHistory();
    stripe = await db.stripeCustomers();
    currencies = await db.customerCurrencies();
  } finally {
    await db.close();
  }
  const ids = [
    ...new Set([...Object.keys(policy.customers), ...history.keys(), ...currencies.keys()]),
  ].sort();
  const rows = ids.map((id) => {
    const plans = customerPlans(policy, id, history.get(id));
    const contract = policy.customers[id];
    return {
      customer: id,
      plan: plans ? planAt(plans, at) : null,
      currency: customerCurrency(policy, id, currencies.get(id)),
      addOns: plans ? [...addOnsAt(plans, at)] : [],
      source: plans?.source ?? null,
      parent: contract?.parent ?? null,
      since: plans?.since ?? null,
      changes: history.get(id)?.length ?? 0,
      stripe_customer_id:
        (contract?.metadata.stripe_customer_id as string | undefined) ?? stripe.get(id) ?? null,
    };
  });
  if (options.format === "json")
    return { output: JSON.stringify({ formatVersion: 1, customers: rows }), exitCode: 0 };
  const view: View = [
    {
      kind: "table",
      columns: ["CUSTOMER", "PLAN", "ADD-ONS", "SOURCE", "PARENT", "SINCE", "CHANGES", "CURRENCY"].map(
        (header) => ({
          header,
        }),
      ),
      rows: rows.map((r) => [
        r.customer,
        r.plan ?? "-",
        r.addOns.length > 0 ? r.addOns.join(", ") : "-",
        r.source ?? "-",
        r.parent ?? "-",
        r.since ?? "-",
        String(r.changes),
        r.currency,
      ]),
    },
  ];
  return { output: renderPlain(view), view, exitCode: 0 };
}
