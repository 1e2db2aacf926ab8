import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { formatPolicyYaml } from "../../src/engine/core/policy/format.js";
import { POLICY_SCHEMA } from "../../src/engine/core/policy-types.generated.js";
import { limitr, REPO } from "../cli/run-cli.js";

/**
 * `limitr fmt`: canonical key order from the schema, minimal double quoting,
 * numbers exactly as written, comments kept, and formatting formatted text
 * changes nothing.
 */
const policyDir = join(REPO, "policies");
const files = [
  ...readdirSync(policyDir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => ({ path: `policies/${f}`, ordered: true })),
  ...readdirSync(join(policyDir, "tests"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => ({ path: `policies/tests/${f}`, ordered: false })),
  { path: "fixtures/fmt/comment-heavy.yaml", ordered: true },
];

const fmt = (text: string, ordered: boolean) => {
  const r = formatPolicyYaml(text, ordered ? POLICY_SCHEMA : null);
  expect(r.errors).toEqual([]);
  return r.text;
};
const comments = (text: string) =>
  text
    .split("\n")
    .map((l) => /(?:^|\s)#\s?(.*)$/.exec(l)?.[1]?.trim())
    .filter((c): c is string => Boolean(c));

describe.each(files)("$path", ({ path, ordered }) => {
  const original = readFileSync(join(REPO, path), "utf8");
  const once = fmt(original, ordered);

  it("is idempotent: formatting twice is formatting once", () => {
    expect(fmt(once, ordered)).toBe(once);
  });

  it("means the same data afterwards (YAML 1.2), numbers written exactly as before", () => {
    expect(parse(once, { version: "1.2" })).toEqual(parse(original, { version: "1.2" }));
    const numbers = (t: string) => (t.match(/(?<![\w.-])\d+\.\d+(?![\w.-])/g) ?? []).sort();
    expect(numbers(once)).toEqual(numbers(original));
  });

  it("keeps every comment", () => {
    expect(comments(once).sort()).toEqual(comments(original).sort());
  });
});

describe("the canonical form", () => {
  const text = readFileSync(join(REPO, "fixtures/fmt/comment-heavy.yaml"), "utf8");
  const out = fmt(text, true);
  const data = parse(out) as Record<string, Record<string, Record<string, unknown>>>;

  it("orders keys as the schema lists them; ids keep the author's order", () => {
    expect(Object.keys(data)).toEqual(["limitr", "currency", "timezone", "meters", "plans"]);
    expect(Object.keys(data.plans ?? {})).toEqual(["pro", "free"]);
    expect(Object.keys(data.plans?.pro ?? {})).toEqual(["name", "description", "price", "entitlements"]);
    const chat = (data.plans?.pro?.entitlements as Record<string, object> | undefined)?.chat ?? {};
    expect(Object.keys(chat)).toEqual(["meter", "limit", "mode", "overage"]);
  });

  it("quotes only what would read back as something else, with double quotes", () => {
    expect(out).toContain("mode: soft # overage instead of denial");
    expect(out).toContain("name: Pro");
    expect(out).toContain("gpt-4o-mini: 0.00000015");
    expect(out).not.toContain("'");
    const quoted = formatPolicyYaml("name: 'true'\nversion: '1.0'\ntimezone: 'UTC'\n", null).text;
    expect(quoted).toBe('name: "true"\nversion: "1.0"\ntimezone: UTC\n');
  });

  it("keeps block scalars and never writes money in exponent form", () => {
    expect(out).toContain("description: |\n      For teams.\n      Billed monthly.\n");
    expect(out).not.toMatch(/: \d[\d.]*e-\d/);
    expect(out).toContain("overage: 0.00000015 # exact: never 1.5e-7");
    expect(out).toContain("price: 49.50 # monthly fee");
  });

  it("reports a YAML syntax error with its line and column and formats nothing", () => {
    const r = formatPolicyYaml("plans:\n  pro: { price: 49\n", POLICY_SCHEMA);
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.errors[0]?.line).toBeGreaterThanOrEqual(2);
    expect(r.text).toBe("plans:\n  pro: { price: 49\n");
  });
});

describe("limitr fmt", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limitr-fmt-"));
    cpSync(policyDir, join(dir, "policies"), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("--check exits 2 and writes nothing; fmt rewrites; then --check exits 0 and the policy is still valid", async () => {
    const before = readFileSync(join(dir, "policies/alerts.yaml"), "utf8");
    const check = await limitr(["fmt", "--check"], dir);
    expect(check.exitCode).toBe(2);
    expect(check.stdout).toContain("would reformat policies/alerts.yaml");
    expect(readFileSync(join(dir, "policies/alerts.yaml"), "utf8")).toBe(before);
    const write = await limitr(["fmt"], dir);
    expect(write.exitCode, write.stderr).toBe(0);
    expect(readFileSync(join(dir, "policies/alerts.yaml"), "utf8")).not.toBe(before);
    const again = await limitr(["fmt", "--check"], dir);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/9 files checked, 0 not in canonical form/);
    const valid = await limitr(["validate"], dir);
    expect(valid.exitCode, valid.stdout).toBe(0);
  });

  it("exits 3 naming file, line and column when a file is not YAML, and leaves it alone", async () => {
    const broken = "plans:\n  pro: { price: 49\n";
    writeFileSync(join(dir, "policies/broken.yaml"), broken);
    const r = await limitr(["fmt"], dir);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^policies\/broken\.yaml:\d+:\d+ error \[yaml\/syntax\] /m);
    expect(readFileSync(join(dir, "policies/broken.yaml"), "utf8")).toBe(broken);
  });
});
