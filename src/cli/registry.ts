import type { CliContext, CommandOutcome } from "./context.js";

/**
 * Every command and flag of the CLI, in one place. Each command's code lives
 * in `commands/<name>.ts` and is imported only when that command runs.
 */
export interface FlagSpec {
  /** commander flag syntax: "--period <P>", "--strict", "-f, --format <F>". */
  flags: string;
  description: string;
  default?: string | boolean;
  /** Allowed values, checked before the command runs (bad value = exit 64). */
  choices?: string[];
  /** May be given several times (collected into an array). */
  repeatable?: boolean;
}

export interface CommandSpec {
  /** Words of the command: ["usage", "import"]. */
  path: string[];
  /** commander argument syntax: "[dir]", "<files...>". */
  args?: string;
  description: string;
  flags: FlagSpec[];
  /** One typical invocation, shown by `--help`. */
  example: string;
  /** The guide in docs/ that explains the command. */
  docs: string;
  /** Command function: receives parsed flags (camelCased) plus `args`. */
  load: () => Promise<{
    run: (options: Record<string, unknown>, ctx: CliContext) => Promise<CommandOutcome>;
  }>;
}

/** Flags every command accepts (SPEC §5), declared on the program. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { flags: "--policies <dir>", description: "policy directory", default: "./policies" },
  {
    flags: "--db <path|url>",
    description: "usage store: a SQLite file, or postgres://... (the shared store; ?schema=NAME)",
    default: ".limitr/usage.db",
  },
];

/** The JSON Schema of a command's `--format json` output, under schemas/. */
export function outputSchema(spec: CommandSpec): string | null {
  const format = spec.flags.find((f) => f.flags.startsWith("--format"));
  return format?.choices?.includes("json") ? `cli/${spec.path.join("-")}.schema.json` : null;
}

const format = (values: string[], dflt = "text"): FlagSpec => ({
  flags: "--format <format>",
  description: `output format (${values.join(", ")})`,
  default: dflt,
  choices: values,
});

export const COMMANDS: CommandSpec[] = [
  {
    path: ["init"],
    example: "limitr init pricing",
    docs: "policy-format.md",
    args: "[dir]",
    description: "scaffold a policy repo (example policies, tests and a CI workflow)",
    flags: [{ flags: "--force", description: "write into a non-empty directory" }, format(["text", "json"])],
    load: () => import("./commands/init.js"),
  },
  {
    path: ["validate"],
    example: "limitr validate --strict --format github",
    docs: "policy-format.md",
    description: "check the policy: YAML, schema and semantic rules",
    flags: [
      { flags: "--strict", description: "treat warnings as errors" },
      format(["text", "json", "github", "sarif"]),
    ],
    load: () => import("./commands/validate.js"),
  },
  {
    path: ["test"],
    example: "limitr test --filter pro",
    docs: "policy-tests.md",
    description: "run the policy tests in <policies>/tests/*.yaml",
    flags: [
      { flags: "--filter <text>", description: "only tests whose name contains TEXT" },
      format(["text", "json", "junit"]),
    ],
    load: () => import("./commands/test.js"),
  },
  {
    path: ["fmt"],
    args: "[files...]",
    example: "limitr fmt --check",
    docs: "policy-format.md",
    description: "rewrite policy YAML in canonical form (key order, quoting, indentation), keeping comments",
    flags: [
      { flags: "--check", description: "change nothing; exit 2 when a file is not in canonical form" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/fmt.js"),
  },
  {
    path: ["diff"],
    example: "limitr diff main HEAD --format markdown",
    docs: "gitops.md",
    args: "[base] [head]",
    description: "semantic diff of the policy between git refs (default: HEAD vs the work tree)",
    flags: [
      format(["text", "json", "markdown"]),
      { flags: "--detailed-exitcode", description: "exit 2 when there are changes, 0 when there are none" },
    ],
    load: () => import("./commands/diff.js"),
  },
  {
    path: ["simulate"],
    example: "limitr simulate --base main --period 2026-10 --fail-on 'revenue_change_pct < -5'",
    docs: "simulate.md",
    description:
      "re-rate and replay a period's recorded usage under two policies and compare revenue and denials",
    flags: [
      { flags: "--base <ref>", description: "base git ref (default: the last pushed version, else HEAD)" },
      { flags: "--head <ref>", description: "head git ref (default: the work tree)" },
      { flags: "--period <P>", description: "2026-10, 2026-Q4 or 2026" },
      { flags: "--from <time>", description: "start (ISO time or date, inclusive)" },
      { flags: "--to <time>", description: "end (ISO time or date, exclusive)" },
      { flags: "--env <name>", description: "environment whose pushed version is the default base" },
      { flags: "--fail-on <expr>", description: "CEL guardrail over the totals; exit 4 when true" },
      {
        flags: "--full-replay",
        description:
          "also replay limits whose enforcement is the same under both policies (their denials count too)",
      },
      { flags: "--out <file>", description: "write the report to FILE instead of stdout" },
      format(["text", "json", "markdown", "html"]),
    ],
    load: () => import("./commands/simulate.js"),
  },
  {
    path: ["push"],
    example: "limitr push --env production --sign-key .limitr/keys/limitr-signing.pem",
    docs: "gitops.md",
    description: "validate, compile and publish the work tree policy as a new bundle version",
    flags: [
      { flags: "--env <name>", description: "environment (default: the first of bundles.environments)" },
      { flags: "--store <dir>", description: "bundle store directory (default: bundles.store)" },
      { flags: "--sign-key <file>", description: "Ed25519 private key (PEM) to sign with" },
      { flags: "--expect-version <n>", description: "publish only if the current version is N" },
      { flags: "--allow-dirty", description: "publish uncommitted policy changes (recorded as dirty)" },
      { flags: "--force", description: "publish even though a rollback pinned the environment" },
      {
        flags: "--skip-tests",
        description:
          "publish without running the policy tests first (recorded in the manifest as testsSkipped)",
      },
      format(["text", "json"]),
    ],
    load: () => import("./commands/push.js"),
  },
  {
    path: ["rollback"],
    example: 'limitr rollback --env production --to 3 --reason "wrong overage price"',
    docs: "gitops.md",
    description: "publish an earlier version's content as a new version and pin the environment",
    flags: [
      { flags: "--env <name>", description: "environment (default: the first of bundles.environments)" },
      { flags: "--store <dir>", description: "bundle store directory (default: bundles.store)" },
      { flags: "--to <version>", description: "version to restore (default: last different content)" },
      { flags: "--sign-key <file>", description: "Ed25519 private key (PEM) to sign with" },
      { flags: "--reason <text>", description: "why, recorded in the pin" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/rollback.js"),
  },
  {
    path: ["unpin"],
    example: "limitr unpin --env production",
    docs: "gitops.md",
    description: "lift the pin a rollback put on an environment",
    flags: [
      { flags: "--env <name>", description: "environment (default: the first of bundles.environments)" },
      { flags: "--store <dir>", description: "bundle store directory (default: bundles.store)" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/unpin.js"),
  },
  {
    path: ["history"],
    example: "limitr history --env production --verify",
    docs: "gitops.md",
    description: "list the published versions of an environment (a directory or an http(s) URL)",
    flags: [
      { flags: "--env <name>", description: "environment (default: the first of bundles.environments)" },
      { flags: "--store <dir|url>", description: "bundle store (default: bundles.store)" },
      { flags: "--verify", description: "check digests, signatures, lineage and order" },
      { flags: "--public-key <file>", description: "trusted public key (PEM), repeatable", repeatable: true },
      format(["text", "json"]),
    ],
    load: () => import("./commands/history.js"),
  },
  {
    path: ["status"],
    example: "limitr status --env production --format json",
    docs: "gitops.md",
    description: "what each environment runs (version, digest, signer, pin) and what the usage store holds",
    flags: [
      {
        flags: "--env <name>",
        description: "only this environment (default: every one in bundles.environments)",
      },
      { flags: "--store <dir|url>", description: "bundle store (default: bundles.store)" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/status.js"),
  },
  {
    path: ["keys", "generate"],
    example: "limitr keys generate --out .limitr/keys",
    docs: "gitops.md",
    description: "create an Ed25519 key pair for signing bundles",
    flags: [
      { flags: "--out <dir>", description: "directory for the key files", default: ".limitr/keys" },
      { flags: "--name <name>", description: "writes NAME.pem and NAME.pub.pem", default: "limitr-signing" },
      { flags: "--force", description: "replace existing key files" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/keys.js"),
  },
  // Usage, customers and billing.
  {
    path: ["usage", "import"],
    example: "limitr usage import events-2026-10.ndjson.gz",
    docs: "billing.md",
    args: "<files...>",
    description: "import usage events (NDJSON or CSV, optionally .gz) into the store; idempotent by event id",
    flags: [
      { flags: "--strict", description: "refuse the whole import (write nothing) if any row is bad" },
      { flags: "--batch-size <n>", description: "rows per transaction", default: "5000" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/usage-import.js"),
  },
  {
    path: ["usage", "query"],
    example: "limitr usage query --period 2026-10 --meter api_calls --group-by day",
    docs: "billing.md",
    description: "aggregate recorded usage per meter, as the policy's meters define it",
    flags: [
      { flags: "--customer <id>", description: "only this customer" },
      { flags: "--meter <id>", description: "only this meter" },
      { flags: "--period <P>", description: "2026-10, 2026-Q4, 2026 or a date (default: all time)" },
      { flags: "--from <time>", description: "start (ISO time, inclusive)" },
      { flags: "--to <time>", description: "end (ISO time, exclusive)" },
      { flags: "--group-by <dim>", description: "customer (default), meter, day or an event property" },
      format(["table", "json", "csv"], "table"),
    ],
    load: () => import("./commands/usage-query.js"),
  },
  {
    path: ["usage", "rebuild-rollups"],
    example: "limitr usage rebuild-rollups --db .limitr/usage.db",
    docs: "billing.md",
    description:
      "drop the store's usage rollups and rebuild those of the policy's meters from every recorded event (SQLite or Postgres)",
    flags: [format(["text", "json"])],
    load: () => import("./commands/usage-rebuild-rollups.js"),
  },
  {
    path: ["customers", "set"],
    example: "limitr customers set globex --plan pro --at 2026-10-15",
    docs: "billing.md",
    args: "<id>",
    description: "record a customer's plan and add-ons in the store (from --at, default now)",
    flags: [
      { flags: "--plan <plan>", description: "plan id (default: the plan the store holds at --at)" },
      {
        flags: "--add-on <plan>",
        description: "also hold this add-on plan (add_on: true), repeatable; held add-ons are kept",
        repeatable: true,
      },
      {
        flags: "--remove-add-on <plan>",
        description: "stop holding this add-on, repeatable",
        repeatable: true,
      },
      { flags: "--at <time>", description: "effective time (ISO, or a date in the policy timezone)" },
      { flags: "--stripe-customer <id>", description: "Stripe customer id for `bill --stripe`" },
      {
        flags: "--currency <code>",
        description: "ISO 4217 currency the customer is invoiced in (the plan needs a price list in it)",
      },
      format(["text", "json"]),
    ],
    load: () => import("./commands/customers.js").then((m) => ({ run: m.runSet })),
  },
  {
    path: ["customers", "list"],
    example: "limitr customers list --format json",
    docs: "billing.md",
    description: "customers from policy contracts and the store, with their current plan and its source",
    flags: [
      { flags: "--at <time>", description: "plan in force at this time (default now)" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/customers.js").then((m) => ({ run: m.runList })),
  },
  {
    path: ["customers", "import"],
    example: "limitr customers import customers.csv",
    docs: "billing.md",
    args: "<file>",
    description:
      "load plan history from a CSV (customer,plan,at[,add_ons][,stripe_customer_id][,currency]; add_ons a;b)",
    flags: [format(["text", "json"])],
    load: () => import("./commands/customers.js").then((m) => ({ run: m.runImport })),
  },
  {
    path: ["balances", "show"],
    example: "limitr balances show acme --format json",
    docs: "billing.md",
    args: "[customer]",
    description: "prepaid wallets: balance, available (balance - minimum - reserved), lots in burn order",
    flags: [format(["text", "json", "csv"])],
    load: () => import("./commands/balances.js").then((m) => ({ run: m.runShow })),
  },
  {
    path: ["balances", "topup"],
    example: "limitr balances topup acme 50.00 --id order-1234 --expires 2027-12-31",
    docs: "billing.md",
    args: "<customer> <amount>",
    description: "credit a customer's wallet (invoiced by bill as a purchase); idempotent by --id",
    flags: [
      { flags: "--id <id>", description: "idempotency key: a repeated id credits once" },
      { flags: "--expires <time>", description: "when the funds expire (ISO time or date)" },
      { flags: "--priority <n>", description: "burn order: lower first (default 0)" },
      { flags: "--note <text>", description: "kept on the ledger row" },
      format(["text", "json", "csv"]),
    ],
    load: () => import("./commands/balances.js").then((m) => ({ run: m.runTopup })),
  },
  {
    path: ["balances", "history"],
    example: "limitr balances history acme --from 2026-10-01 --format csv",
    docs: "billing.md",
    args: "<customer>",
    description: "a customer's wallet ledger: credits, debits, grants, expiries, rollovers, adjustments",
    flags: [
      { flags: "--from <time>", description: "start (ISO time or date, inclusive)" },
      { flags: "--to <time>", description: "end (ISO time or date, exclusive)" },
      format(["text", "json", "csv"]),
    ],
    load: () => import("./commands/balances.js").then((m) => ({ run: m.runHistory })),
  },
  {
    path: ["balances", "adjust"],
    example: 'limitr balances adjust acme -5 --note "duplicate job refunded twice"',
    docs: "billing.md",
    args: "<customer> <amount>",
    description: "correct a wallet by a signed amount, with a note (not invoiced)",
    flags: [
      { flags: "--note <text>", description: "why (required)" },
      { flags: "--id <id>", description: "idempotency key" },
      format(["text", "json", "csv"]),
    ],
    load: () => import("./commands/balances.js").then((m) => ({ run: m.runAdjust })),
  },
  {
    path: ["bill"],
    example: "limitr bill --period 2026-10 --out invoices/",
    docs: "billing.md",
    description: "rate recorded usage into invoices (optionally pushed to Stripe as drafts)",
    flags: [
      { flags: "--period <P>", description: "2026-10, 2026-Q4 or 2026" },
      { flags: "--from <time>", description: "start (ISO time or date, inclusive)" },
      { flags: "--to <time>", description: "end (ISO time or date, exclusive)" },
      { flags: "--customer <id>", description: "only this customer (invoice numbers stay the same)" },
      {
        flags: "--store <dir|url>",
        description:
          "bundle store holding the policy versions recorded as active in the period (default: bundles.store of the policy)",
      },
      { flags: "--env <name>", description: "environment of those versions in the bundle store" },
      { flags: "--out <dir>", description: "write one JSON per invoice and lines.csv into DIR" },
      { flags: "--stripe", description: "create invoice items and a draft invoice per customer in Stripe" },
      { flags: "--finalize", description: "with --stripe: finalize the invoices" },
      {
        flags: "--dry-run",
        description:
          "with --stripe: print the requests it would send (method, path, idempotency key, params); send and record nothing",
      },
      format(["text", "json", "csv"]),
    ],
    load: () => import("./commands/bill.js"),
  },
  {
    path: ["serve"],
    description: "run the engine behind an HTTP/JSON API (check, allow, decide, record, reserve, usage)",
    flags: [
      {
        flags: "--port <n>",
        description: "TCP port (0 = any free port; the URL is printed first)",
        default: "8787",
      },
      {
        flags: "--host <addr>",
        description: "address to bind (non-loopback needs LIMITR_API_KEYS)",
        default: "127.0.0.1",
      },
      {
        flags: "--store <kind>",
        description:
          "usage store: sqlite (--db: a SQLite file, or postgres://... shared by every instance) or memory",
        default: "sqlite",
        choices: ["sqlite", "memory"],
      },
      {
        flags: "--counters <url>",
        description:
          "share hard limits with other instances through Redis quota leases (redis://host:6379/0)",
      },
      { flags: "--counters-prefix <prefix>", description: "Redis key prefix for the shared counters" },
      {
        flags: "--counters-sync-ms <ms>",
        description:
          "add this server's counts to the shared totals and read the others' this often (default: every tick, at most 1 s; hard limits never depend on it)",
      },
      {
        flags: "--exclusive",
        description:
          "postgres:// --db: this server is the only engine on the store (its own counters, caps and wallets are the truth)",
      },
      {
        flags: "--durability <mode>",
        description: "batched (write-behind) or sync",
        default: "batched",
        choices: ["batched", "sync"],
      },
      {
        flags: "--bundle-url <url|dir>",
        description: "follow a pushed environment (URL or directory) instead of --policies",
      },
      {
        flags: "--public-key <file>",
        description: "trusted bundle signing key (PEM), repeatable",
        repeatable: true,
      },
      { flags: "--poll-ms <ms>", description: "bundle poll interval (default 10000)" },
      {
        flags: "--no-deliver-alerts",
        description:
          "leave alert delivery to a scheduled `limitr alerts check` (default: deliver as rules fire)",
      },
      {
        flags: "--alerts-every <ms>",
        description: "evaluate billing-figure alert rules (spend, margin, balance) this often; 0 = never",
        default: "300000",
      },
      {
        flags: "--cache-dir <dir>",
        description: "where the last good bundle is kept (default: next to --db)",
      },
      {
        flags: "--body-limit <bytes>",
        description: "largest request body (413 past it)",
        default: "1048576",
      },
      {
        flags: "--request-timeout <ms>",
        description: "time a client has to send a whole request (408 after it)",
        default: "10000",
      },
      {
        flags: "--keep-alive-timeout <ms>",
        description: "idle keep-alive connections close after this",
        default: "5000",
      },
    ],
    example: "limitr serve --port 8787 --db .limitr/usage.db",
    docs: "serve.md",
    load: () => import("./commands/serve.js"),
  },
  {
    path: ["studio"],
    description:
      "a local web app to browse plans, customers' usage and history, and change prices, limits, tiers and contracts, saved as a git branch",
    flags: [
      {
        flags: "--port <n>",
        description: "TCP port on 127.0.0.1 (0 = any free port; the URL with its token is printed first)",
        default: "4300",
      },
      { flags: "--open", description: "open the URL in the default browser" },
    ],
    example: "limitr studio --open",
    docs: "studio.md",
    load: () => import("./commands/studio.js"),
  },
  {
    path: ["alerts", "check"],
    example: "limitr alerts check --period 2026-10 --dry-run",
    docs: "alerts.md",
    description: "evaluate every alert rule over recorded usage and deliver what fires",
    flags: [
      { flags: "--period <P>", description: "2026-10, 2026-Q4 or 2026 (default: the current month)" },
      { flags: "--from <time>", description: "start (ISO time or date, inclusive)" },
      { flags: "--to <time>", description: "end (ISO time or date, exclusive)" },
      {
        flags: "--at <time>",
        description: "evaluate as of this time (default: now, or the end of a past period)",
      },
      { flags: "--dry-run", description: "list what would fire; change and send nothing" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/alerts.js"),
  },
  {
    path: ["alerts", "test"],
    example: "limitr alerts test heading-for-overage --customer globex",
    docs: "alerts.md",
    args: "<rule>",
    description: "show the variables a rule sees for one customer and whether it fires",
    flags: [
      { flags: "--customer <id>", description: "the customer to evaluate (required)" },
      { flags: "--period <P>", description: "2026-10, 2026-Q4 or 2026 (default: the current month)" },
      { flags: "--at <time>", description: "evaluate as of this time" },
      format(["text", "json"]),
    ],
    load: () => import("./commands/alerts-test.js"),
  },
  {
    path: ["completion"],
    args: "<shell>",
    example: "limitr completion bash > ~/.local/share/bash-completion/completions/limitr",
    docs: "cli.md",
    description: "print a shell completion script (bash, zsh or fish) for every command and flag",
    flags: [],
    load: () => import("./commands/completion.js"),
  },
];
