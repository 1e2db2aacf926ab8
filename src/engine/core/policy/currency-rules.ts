import { currencyDigits, dec, ISO_4217 } from "../money.js";
import type { Diagnostic } from "./diagnostics.js";
import { dotted, pointer } from "./locations.js";
import {
  entriesOf,
  has,
  isMap,
  listNames,
  listOf,
  mapOf,
  type Path,
  problem,
  type Rule,
  type RuleContext,
  str,
} from "./rule-context.js";
import { didYouMean } from "./suggest.js";

/**
 * Multi-currency rules: a plan's `currencies:` are explicit price lists (no
 * exchange rates), so each must price everything its plan prices; a customer
 * invoiced in a currency needs a plan with a price list in it; and amounts
 * that reach an invoice as they are (fees, minimums, flat fees, package
 * prices, credits) cannot be finer than the currency's minor unit.
 */
const policyCurrency = (ctx: RuleContext): string => (str(ctx.raw.currency) ?? "USD").toUpperCase();

const isPositive = (v: unknown): boolean => {
  if (typeof v !== "number" && typeof v !== "string") return false;
  try {
    return dec(v).gt(0);
  } catch {
    return false;
  }
};

/** Price-list codes and customer currencies are ISO 4217 codes, and a list is not for the plan's own currency. */
export const currencyCodesKnown: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const own = policyCurrency(ctx);
  const unknown = (code: string, path: Path, atKey: boolean) =>
    problem(ctx, path, {
      code: "currency/unknown-code",
      message: `${code} is not an ISO 4217 currency code`,
      hint: didYouMean(code.toUpperCase(), ISO_4217) ?? "use a three-letter code such as USD, EUR or JPY",
      atKey,
    });
  for (const [planId, plan] of entriesOf(ctx.raw.plans)) {
    for (const [code] of entriesOf(mapOf(plan).currencies)) {
      const path = ["plans", planId, "currencies", code];
      if (!ISO_4217.has(code.toUpperCase())) out.push(unknown(code, path, true));
      else if (code.toUpperCase() === own)
        out.push(
          problem(ctx, path, {
            code: "currency/policy-currency-list",
            message: `plans.${planId}.currencies.${code} repeats the policy currency: the plan's own prices are in ${own}`,
            hint: `change the plan's prices directly, or remove currencies.${code}`,
            atKey: true,
          }),
        );
    }
  }
  for (const [id, c] of entriesOf(ctx.raw.customers)) {
    const code = str(mapOf(c).currency);
    if (code !== null && !ISO_4217.has(code.toUpperCase()))
      out.push(unknown(code, ["customers", id, "currency"], false));
  }
  return out;
};

/** A price list prices what its plan prices (fee, minimum, every priced entitlement, every cap), and nothing else. */
export const priceListsComplete: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  for (const [planId, rawPlan] of entriesOf(ctx.raw.plans)) {
    const plan = mapOf(rawPlan);
    const ents = mapOf(plan.entitlements);
    const priced = Object.keys(ents).filter((id) => {
      const e = ents[id];
      return isMap(e) && (has(e, "price") || has(e, "overage"));
    });
    const caps = Object.keys(mapOf(plan.caps));
    for (const [code, rawList] of entriesOf(plan.currencies)) {
      // A list for the policy currency itself is reported once, by currencyCodesKnown.
      if (!isMap(rawList) || code.toUpperCase() === policyCurrency(ctx)) continue;
      const where = `plans.${planId}.currencies.${code}`;
      const at: Path = ["plans", planId, "currencies", code];
      const missing: string[] = [];
      if (isPositive(plan.price) && !has(rawList, "price")) missing.push("price");
      if (isPositive(plan.minimum) && !has(rawList, "minimum")) missing.push("minimum");
      const listed = mapOf(rawList.entitlements);
      for (const id of priced) if (!has(listed, id)) missing.push(`entitlements.${id}`);
      const listedCaps = mapOf(rawList.caps);
      for (const id of caps) if (!has(listedCaps, id)) missing.push(`caps.${id}`);
      if (missing.length > 0)
        out.push(
          problem(ctx, at, {
            code: "currency/incomplete-price-list",
            message: `${where} does not price ${missing.join(", ")}: prices are never converted between currencies`,
            hint: `state each in ${code} (the plan's own prices are in ${policyCurrency(ctx)})`,
            atKey: true,
          }),
        );
      for (const [id, body] of Object.entries(listed)) {
        const path = [...at, "entitlements", id];
        if (!priced.includes(id)) {
          out.push(
            problem(ctx, path, {
              code: "currency/unpriced-entitlement",
              message: has(ents, id)
                ? `${where}.entitlements.${id} prices an entitlement plans.${planId} does not charge for`
                : `${where}.entitlements.${id} is not an entitlement of plans.${planId}`,
              hint: `priced entitlements of plans.${planId}: ${listNames(priced)}`,
              atKey: true,
            }),
          );
        } else if (isMap(body) && has(body, "overage") && !has(mapOf(ents[id]), "limit")) {
          out.push(
            problem(ctx, [...path, "overage"], {
              code: "currency/overage-without-limit",
              message: `${where}.entitlements.${id} uses overage, but plans.${planId}.entitlements.${id} has no limit`,
              hint: "give a full charge model with price: { model: ... }",
              atKey: true,
            }),
          );
        }
      }
      for (const id of Object.keys(listedCaps))
        if (!caps.includes(id))
          out.push(
            problem(ctx, [...at, "caps", id], {
              code: "currency/unknown-cap",
              message: `${where}.caps.${id} is not a cap of plans.${planId}`,
              hint: `caps of plans.${planId}: ${listNames(caps)}`,
              atKey: true,
            }),
          );
    }
  }
  return out;
};

/**
 * A contract in another currency than the policy's needs its plan to have a
 * price list in it; a wallet keeps the policy currency (its grants, top-ups
 * and credit value are priced there), so such a contract cannot hold one.
 */
export const customerCurrencyPriced: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const own = policyCurrency(ctx);
  const plans = mapOf(ctx.raw.plans);
  for (const [id, c] of entriesOf(ctx.raw.customers)) {
    const contract = mapOf(c);
    const code = str(contract.currency)?.toUpperCase() ?? null;
    if (code === null || code === own || !ISO_4217.has(code)) continue;
    const planId = str(contract.plan);
    const at: Path = ["customers", id, "currency"];
    if (planId === null || !isMap(plans[planId])) continue;
    const plan = mapOf(plans[planId]);
    const lists = Object.keys(mapOf(plan.currencies)).map((c) => c.toUpperCase());
    if (!lists.includes(code)) {
      out.push(
        problem(ctx, at, {
          code: "currency/no-price-list",
          message: `customers.${id} is invoiced in ${code} but plans.${planId} has no ${code} price list`,
          hint: `add plans.${planId}.currencies.${code} (prices of plans.${planId}: ${[own, ...lists].join(", ")})`,
        }),
      );
    }
    if (isMap(plan.wallet) || isMap(contract.wallet))
      out.push(
        problem(ctx, at, {
          code: "currency/wallet",
          message: `customers.${id} is invoiced in ${code}, but ${isMap(contract.wallet) ? "its contract" : `plans.${planId}`} has a wallet, which is kept in ${own}`,
          hint: `invoice customers with a wallet in ${own}`,
        }),
      );
  }
  return out;
};

/** Fields whose amount reaches an invoice as written (not multiplied by a quantity first). */
const WHOLE_AMOUNTS = new Set(["flat_fee", "package_price"]);

/** Amounts finer than the currency's minor unit (7400.5 JPY, 1.2345 KWD) cannot be invoiced as written. */
export const amountsInMinorUnits: Rule = (ctx) => {
  const out: Diagnostic[] = [];
  const own = policyCurrency(ctx);
  const check = (value: unknown, path: Path, code: string) => {
    if (!ISO_4217.has(code)) return;
    const text = typeof value === "number" ? (ctx.numbers.get(pointer(path)) ?? String(value)) : str(value);
    if (text === null || !/^-?\d+(\.\d+)?$/.test(text)) return;
    const places = dec(text).decimalPlaces();
    const digits = currencyDigits(code);
    if (places <= digits) return;
    out.push(
      problem(ctx, path, {
        code: "currency/minor-units",
        message: `${dotted(pointer(path))} is ${text} ${code}, finer than the ${code} minor unit (${digits} decimal place${digits === 1 ? "" : "s"})`,
        hint: `round it to ${digits === 0 ? "a whole amount" : `${digits} decimal places`}; only unit prices may be finer`,
      }),
    );
  };
  const chargeModel = (model: unknown, path: Path, code: string) => {
    const m = mapOf(model);
    for (const [key, v] of Object.entries(m)) if (WHOLE_AMOUNTS.has(key)) check(v, [...path, key], code);
    listOf(m.tiers).forEach((t, i) => {
      check(mapOf(t).flat_fee, [...path, "tiers", i, "flat_fee"], code);
    });
  };
  for (const [planId, rawPlan] of entriesOf(ctx.raw.plans)) {
    const plan = mapOf(rawPlan);
    const at: Path = ["plans", planId];
    for (const f of ["price", "minimum"]) if (has(plan, f)) check(plan[f], [...at, f], own);
    for (const [id, e] of entriesOf(plan.entitlements))
      chargeModel(mapOf(e).price, [...at, "entitlements", id, "price"], own);
    for (const [code, rawList] of entriesOf(plan.currencies)) {
      const list = mapOf(rawList);
      const c = code.toUpperCase();
      const lat: Path = [...at, "currencies", code];
      for (const f of ["price", "minimum"]) if (has(list, f)) check(list[f], [...lat, f], c);
      for (const [id, e] of entriesOf(list.entitlements))
        chargeModel(mapOf(e).price, [...lat, "entitlements", id, "price"], c);
    }
  }
  for (const [id, rawCustomer] of entriesOf(ctx.raw.customers)) {
    const contract = mapOf(rawCustomer);
    const code = str(contract.currency)?.toUpperCase() ?? own;
    listOf(contract.credits).forEach((credit, i) => {
      check(mapOf(credit).amount, ["customers", id, "credits", i, "amount"], code);
    });
    for (const [ent, o] of entriesOf(contract.overrides))
      chargeModel(mapOf(o).price, ["customers", id, "overrides", ent, "price"], code);
  }
  return out;
};

export const currencyRules: Rule[] = [
  currencyCodesKnown,
  priceListsComplete,
  customerCurrencyPriced,
  amountsInMinorUnits,
];
