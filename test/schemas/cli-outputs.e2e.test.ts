import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS, outputSchema } from "../../src/cli/registry.js";
import { limitr } from "../cli/run-cli.js";
import { commitAll, edit, makeRepo } from "../gitops/helpers.js";
import { problems, schemaFiles } from "./ajv.js";

/**
 * Every command that has `--format json` is run with it in one temp policy
 * repo, in an order that gives each something to report (keys before a signed
 * push, events before a bill), and its stdout is validated against
 * schemas/cli/<command>.schema.json. A command added to the registry with a
 * JSON format and no case here fails the last test.
 */
const EVENTS = [
  {
    id: "e1",
    type: "llm.completion",
    customer: "globex",
    timestamp: "2026-10-03T12:00:00Z",
    properties: { model: "gpt-4o", input_tokens: 5200000, output_tokens: 10 },
  },
  { id: "e2", type: "api.request", customer: "zed", timestamp: "2026-10-05T09:30:00" },
  {
    id: "e3",
    type: "mcp.tool_call",
    customer: "acme-holdings",
    timestamp: 1791288000000,
    properties: { tool: "web_search" },
  },
];

/** [command words, extra arguments, expected exit code]; run in this order. */
const CASES: [string[], string[], number][] = [
  [["init"], ["scaffold"], 0],
  [["validate"], [], 0],
  [["test"], [], 0],
  [["fmt"], ["--check"], 2],
  [["keys", "generate"], ["--out", "keys"], 0],
  [["push"], ["--store", "store", "--env", "production", "--sign-key", "keys/limitr-signing.pem"], 0],
  [["status"], ["--store", "store", "--env", "production"], 0],
  [["usage", "import"], ["events.ndjson"], 0],
  [["customers", "import"], ["customers.csv"], 0],
  [["customers", "set"], ["initech", "--plan", "pro", "--at", "2026-10-02"], 0],
  [["customers", "list"], [], 0],
  [["usage", "query"], ["--period", "2026-10", "--group-by", "day"], 0],
  [["usage", "rebuild-rollups"], [], 0],
  [["balances", "topup"], ["walleted", "25.50", "--id", "order-1", "--expires", "2027-12-31"], 0],
  [["balances", "adjust"], ["walleted", "-0.5", "--note", "correction"], 0],
  [["balances", "show"], [], 0],
  [["balances", "history"], ["walleted"], 0],
  [["bill"], ["--period", "2026-10"], 0],
  [["alerts", "check"], ["--period", "2026-10", "--dry-run"], 0],
  [["alerts", "test"], ["heading-for-overage", "--customer", "globex", "--period", "2026-10"], 0],
  [["diff"], [], 0],
  [["simulate"], ["--base", "HEAD", "--period", "2026-10", "--fail-on", "revenue_change_pct > 1000"], 0],
  [
    ["push"],
    // The edited prices break the example's own policy tests: publish anyway, as recorded in the manifest.
    [
      "--allow-dirty",
      "--skip-tests",
      "--store",
      "store",
      "--env",
      "production",
      "--sign-key",
      "keys/limitr-signing.pem",
    ],
    0,
  ],
  [
    ["rollback"],
    ["--store", "store", "--env", "production", "--to", "1", "--sign-key", "keys/limitr-signing.pem"],
    0,
  ],
  [["history"], ["--store", "store", "--env", "production", "--verify"], 0],
  [["unpin"], ["--store", "store", "--env", "production"], 0],
];

describe("every command's --format json validates against its schema (formatVersion 1)", () => {
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  const covered = new Set<string>();
  beforeAll(async () => {
    repo = await makeRepo();
    writeFileSync(join(repo.dir, "events.ndjson"), `${EVENTS.map((e) => JSON.stringify(e)).join("\n")}\n`);
    writeFileSync(join(repo.dir, "customers.csv"), "customer,plan,at\nzed,pro,2026-09-01\n");
    // Unformatted on purpose (fmt --check has something to report), committed: the base of diff and simulate.
    edit(
      join(repo.dir, "policies/limitr.yaml"),
      "environments: [staging, production]",
      "environments: ['staging', production]",
    );
    // A prepaid plan and a contract with a wallet, for the balances commands.
    writeFileSync(
      join(repo.dir, "policies/wallets.yaml"),
      [
        "plans:",
        "  prepaid:",
        "    wallet: { unit: USD, minimum: 1, grant: { amount: 5, every: month } }",
        "    entitlements:",
        "      prepaid_api: { meter: api_calls, mode: prepaid, price: { model: per_unit, unit_price: 0.01 } }",
        "customers:",
        "  walleted: { plan: prepaid, wallet: { opening_balance: 10 } }",
        "",
      ].join("\n"),
    );
    await commitAll(repo.dir, "policies: quoting");
  });
  afterAll(() => repo.cleanup());

  it.each(CASES.map((c, i) => [`${c[0].join(" ")} ${c[1].join(" ")}`.trim(), i] as const))(
    "%s",
    async (_, i) => {
      const [words, extra, code] = CASES[i] as [string[], string[], number];
      if (words[0] === "diff") edit(join(repo.dir, "policies/plans.yaml"), "price: 49", "price: 59");
      const r = await limitr([...words, ...extra, "--format", "json"], repo.dir);
      expect(r.exitCode, r.stderr).toBe(code);
      const out = JSON.parse(r.stdout) as { formatVersion: unknown };
      expect(out.formatVersion).toBe(1);
      const spec = COMMANDS.find((c) => c.path.join(" ") === words.join(" "));
      const schema = spec && outputSchema(spec);
      expect(schema, `${words.join(" ")} has no JSON schema`).toBeTruthy();
      expect(problems(schema as string, out)).toEqual([]);
      covered.add(words.join(" "));
    },
  );

  it("covers every command with a JSON format, and each has its schema file", () => {
    const withJson = COMMANDS.filter((c) => outputSchema(c) !== null);
    for (const spec of withJson) expect(schemaFiles).toContain(outputSchema(spec));
    expect([...covered].sort()).toEqual(withJson.map((c) => c.path.join(" ")).sort());
  });
});
