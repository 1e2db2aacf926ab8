/**
 * Large, valid policies for the validation bench and the scaling test: one
 * file of YAML text with `plans` plans, `customers` customers (each with
 * metadata, an override and a discount) and a `chain` of customers, each the
 * parent of the next. Deterministic.
 */
export interface LargePolicyShape {
  plans?: number;
  customers?: number;
  chain?: number;
}

export function largePolicy(shape: LargePolicyShape): string {
  const out = [
    "limitr: 1",
    "name: large",
    "timezone: Europe/Paris",
    "meters:",
    "  tokens: { event: llm.completion, property: tokens }",
    "  calls: { event: api.request, aggregation: count }",
    "plans:",
    "  free:",
    "    default: true",
    "    entitlements:",
    "      chat: { meter: tokens, limit: 10000 }",
    "      export: false",
    "  pro:",
    "    price: 49",
    "    entitlements:",
    "      chat: { meter: tokens, limit: 2000000, mode: soft, overage: 0.00002 }",
    "      api: { meter: calls, limit: 100000, scope: root }",
  ];
  for (let i = 0; i < (shape.plans ?? 0); i++) {
    out.push(
      `  plan-${i}:`,
      `    name: Plan ${i}`,
      `    price: ${(i % 500) + 0.99}`,
      "    entitlements:",
      `      chat: { meter: tokens, limit: ${1000 + i}, overage: 0.00003 }`,
      "      api:",
      "        meter: calls",
      "        price:",
      "          model: graduated",
      `          tiers: [{ up_to: ${100 + i}, unit_price: 0 }, { unit_price: 0.001 }]`,
    );
  }
  out.push("customers:");
  for (let i = 0; i < (shape.customers ?? 0); i++) {
    out.push(
      `  customer-${i}:`,
      "    plan: pro",
      "    since: 2026-01-15",
      `    metadata: { stripe_customer_id: cus_${i.toString(36).padStart(8, "0")}, region: eu-west, seats: ${i % 40} }`,
      `    overrides: { chat: { limit: ${3000000 + i}, expires: 2026-12-31 } }`,
      "    discounts: [{ entitlement: chat, percent: 10 }]",
    );
  }
  for (let i = 0; i < (shape.chain ?? 0); i++) {
    out.push(`  link-${i}: { plan: pro${i > 0 ? `, parent: link-${i - 1}` : ""} }`);
  }
  return `${out.join("\n")}\n`;
}
