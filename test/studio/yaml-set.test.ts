import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { setYamlValue } from "../../src/cli/studio/yaml-set.js";

const plans = readFileSync("policies/plans.yaml", "utf8");
const customers = readFileSync("policies/customers.yaml", "utf8");
const TIERS = ["plans", "enterprise", "entitlements", "chat_input", "price", "tiers"];

/** Lines only in `after` and lines only in `before`, in order. */
function lineDiff(before: string, after: string) {
  const minus = (x: string[], y: string[]) => {
    const left = [...y];
    return x.filter((l) => {
      const i = left.indexOf(l);
      if (i === -1) return true;
      left.splice(i, 1);
      return false;
    });
  };
  // The lines around the edits are trimmed first, so a line that also occurs elsewhere still counts.
  let a = before.split("\n");
  let b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  a = a.slice(head, a.length - tail);
  b = b.slice(head, b.length - tail);
  return { added: minus(b, a), removed: minus(a, b) };
}
const comments = (text: string) =>
  text.split("\n").filter((l) => l.trimStart().startsWith("#") || l.includes(" # "));

describe("setting whole values in policy YAML", () => {
  it("adds a tier row as one flow-map line under the others", () => {
    const tiers = [
      { up_to: "10000000", unit_price: "0.0000025" },
      { up_to: "100000000", unit_price: "0.000002" },
      { up_to: "500000000", unit_price: "0.0000015" },
      { unit_price: "0.000001" },
    ];
    const { text, preservedLayout } = setYamlValue(plans, TIERS, tiers);
    expect(preservedLayout).toBe(true);
    expect(lineDiff(plans, text)).toEqual({
      added: [
        "            - { up_to: 500000000, unit_price: 0.0000015 }",
        "            - { unit_price: 0.000001 }",
      ],
      removed: ["            - { unit_price: 0.0000015 }"],
    });
    expect(parseDocument(text).getIn([...TIERS, 3, "unit_price"])).toBe(0.000001);
    expect(comments(text)).toEqual(comments(plans));
  });

  it("removes a middle tier row by deleting its line", () => {
    const { text, preservedLayout } = setYamlValue(plans, TIERS, [
      { up_to: "10000000", unit_price: "0.0000025" },
      { unit_price: "0.0000015" },
    ]);
    expect(preservedLayout).toBe(true);
    expect(lineDiff(plans, text)).toEqual({
      added: [],
      removed: ["            - { up_to: 100000000, unit_price: 0.000002 }"],
    });
  });

  it("adds an override with an expiry to a contract that has none, keeping every comment", () => {
    const path = ["customers", "acme-research", "overrides"];
    const { text, preservedLayout } = setYamlValue(customers, path, {
      gpu: { limit: "72000", expires: "2027-01-31" },
    });
    expect(preservedLayout).toBe(true);
    expect(text).toContain(
      "    metadata: { stripe_customer_id: cus_acmeresearch, segment: strategic }\n    overrides:\n      gpu: { limit: 72000, expires: 2027-01-31 }\n",
    );
    expect(lineDiff(customers, text).removed).toEqual([]);
    expect(comments(text)).toEqual(comments(customers));
    expect(parseDocument(text).getIn([...path, "gpu", "expires"])).toBe("2027-01-31");
  });

  it("changes one credit's amount in place and leaves its comment", () => {
    const path = ["customers", "globex", "credits"];
    const { text } = setYamlValue(customers, path, [{ amount: "40", priority: "2", expires: "2027-03-31" }]);
    expect(lineDiff(customers, text)).toEqual({
      added: ["      - { amount: 40, priority: 2, expires: 2027-03-31 }    # goodwill credit"],
      removed: ["      - { amount: 25, priority: 2, expires: 2027-03-31 }    # goodwill credit"],
    });
  });

  it("removes a discount and adds another", () => {
    const path = ["customers", "acme-holdings", "discounts"];
    const { text } = setYamlValue(customers, path, [{ percent: "5" }, { entitlement: "gpu", percent: "10" }]);
    expect(parseDocument(text).getIn(path, false)).toBeDefined();
    expect(
      (parseDocument(text).toJS() as { customers: Record<string, { discounts: unknown }> }).customers[
        "acme-holdings"
      ]?.discounts,
    ).toEqual([{ percent: 5 }, { entitlement: "gpu", percent: 10 }]);
    expect(comments(text)).toContain(
      "      - { percent: 5 }                             # 5% off the whole invoice",
    );
  });

  it("gives a plan a wallet with a monthly grant, as block lines under the plan", () => {
    const path = ["plans", "pro", "wallet"];
    const { text, preservedLayout } = setYamlValue(plans, path, {
      unit: "USD",
      grant: { amount: "10", every: "month", rollover: { max: "5" }, expires_after: "" },
    });
    expect(preservedLayout).toBe(true);
    const added = lineDiff(plans, text).added;
    expect(added).toEqual([
      "    wallet:",
      "      unit: USD",
      "      grant:",
      "        amount: 10",
      "        every: month",
      "        rollover: { max: 5 }",
    ]);
    expect(comments(text)).toEqual(comments(plans));
  });

  it("writes a grant under a wallet the plan does not have yet, without touching other lines", () => {
    const { text, preservedLayout } = setYamlValue(plans, ["plans", "free", "wallet", "grant"], {
      amount: "10",
      every: "month",
    });
    expect(preservedLayout).toBe(true);
    expect(lineDiff(plans, text)).toEqual({
      added: ["    wallet:", "      grant: { amount: 10, every: month }"],
      removed: [],
    });
  });

  it("removes a key when the value is undefined, and changes nothing for the same value", () => {
    const path = ["customers", "initech", "overrides"];
    expect(setYamlValue(customers, path, { seats: { limit: "20" } }).text).toBe(customers);
    const { text } = setYamlValue(customers, path, undefined);
    expect(lineDiff(customers, text).removed).toEqual(["    overrides:", "      seats: { limit: 20 }"]);
  });
});
