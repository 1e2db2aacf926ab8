import { resolve } from "node:path";
import { requireExistingStore } from "limitr-engine/adapters/store/database";
import { SqliteEngineStore } from "limitr-engine/adapters/store/engine-store";
import { PgEngineStore } from "limitr-engine/adapters/store/postgres/engine-store";
import { isPostgresUrl } from "limitr-engine/adapters/store/postgres/url";
import { UsageError } from "limitr-engine/core/errors";
import type { CompiledPolicy } from "limitr-engine/core/model";
import { parseInstant } from "limitr-engine/core/periods";
import type { WalletStore } from "limitr-engine/core/wallet/store-rows";
import { Limitr } from "limitr-engine/runtime/limitr";
import type { WalletBalance, WalletTransaction } from "limitr-engine/runtime/wallets";
import type { CliContext, CommandOutcome } from "../context.js";
import { loadPolicy } from "./usage-common.js";

/**
 * `balances show|topup|history|adjust`: customers' prepaid wallets (SPEC §12),
 * through the engine itself, so a command applies due grants and expiries
 * exactly as a decision would, and writes its ledger rows the same way.
 */
type Options = Record<string, unknown>;

async function withEngine<T>(
  options: Options,
  ctx: CliContext,
  fn: (engine: Limitr, store: WalletStore, policy: CompiledPolicy) => T | Promise<T>,
  /** `show` and `history` only read: a SQLite store that does not exist is refused (a mistyped --db), not created. */
  writes = true,
): Promise<T> {
  const policy = loadPolicy(options, ctx);
  const db = String(options.db);
  // On a shared Postgres store the engine syncs the wallet with every engine serving it (docs/scale.md).
  const pg = isPostgresUrl(db);
  if (!pg && !writes) requireExistingStore(resolve(ctx.cwd, db));
  const store = pg
    ? await PgEngineStore.open(db, { planPollMs: 0 })
    : new SqliteEngineStore(resolve(ctx.cwd, db));
  const engine = await Limitr.open({
    policy,
    store,
    durability: pg ? "batched" : "sync",
    alerts: false,
    planPollMs: 0,
    tool: true,
  });
  try {
    return await fn(engine, store, policy);
  } finally {
    await engine.close();
  }
}

/**
 * A top-up or adjustment as stored: on a shared Postgres store it is written
 * by the engine's next sync, so sync now and read the row back (its true balance).
 */
async function stored(
  engine: Limitr,
  tx: WalletTransaction & { duplicate: boolean },
): Promise<WalletTransaction & { duplicate: boolean }> {
  if (tx.duplicate) return tx;
  await engine.flush();
  const row = engine.transactions(tx.customer).find((t) => t.id === tx.id);
  return row === undefined ? tx : { ...row, duplicate: false };
}

const arg = (options: Options, i: number): string | undefined =>
  (options.args as unknown[] | undefined)?.[i] as string | undefined;

function instant(text: unknown, zone: string, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseInstant(String(text), zone);
  if (ms === null)
    throw new UsageError(`bad ${flag} ${String(text)} (expected an ISO time, a date or epoch ms)`);
  return ms;
}

function csv(v: unknown): string {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const table = (header: string[], rows: unknown[][]): string =>
  [header, ...rows].map((r) => r.map(csv).join(",")).join("\n");

/** Customers with a wallet: those the store has, and contracts that bring one. */
function walletCustomers(store: WalletStore, policy: CompiledPolicy): string[] {
  const ids = new Set(store.loadWallets().map((w) => w.customer));
  for (const c of Object.values(policy.customers)) {
    const plan = c.plan === null ? undefined : policy.plans[c.plan];
    if (c.wallet !== undefined || plan?.wallet !== undefined) ids.add(c.id);
  }
  return [...ids].sort();
}

export async function runShow(options: Options, ctx: CliContext): Promise<CommandOutcome> {
  const one = arg(options, 0);
  const wallets = await withEngine(
    options,
    ctx,
    (engine, store, policy) =>
      (one === undefined ? walletCustomers(store, policy) : [one]).map((c) => engine.balance(c)),
    false,
  );
  const format = options.format;
  if (format === "json") return { output: JSON.stringify({ formatVersion: 1, wallets }), exitCode: 0 };
  const header = ["customer", "unit", "balance", "available", "minimum", "reserved", "lots"];
  const rows = wallets.map((w: WalletBalance) => [
    w.customer,
    w.unit,
    w.balance,
    w.available,
    w.minimum,
    w.reserved,
    w.grants.length,
  ]);
  if (format === "csv") return { output: table(header, rows), exitCode: 0 };
  if (wallets.length === 0) return { output: "no wallets", exitCode: 0 };
  return {
    output: wallets
      .map((w) => {
        const lots = w.grants.map(
          (g) =>
            `  ${g.id} (${g.source}, priority ${g.priority}): ${g.remaining}${g.expiresAt ? ` until ${g.expiresAt}` : ""}`,
        );
        return [
          `${w.customer}: ${w.balance} ${w.unit} (available ${w.available}, minimum ${w.minimum}, reserved ${w.reserved})`,
          ...lots,
        ].join("\n");
      })
      .join("\n"),
    exitCode: 0,
  };
}

function txOutcome(options: Options, tx: WalletTransaction & { duplicate: boolean }): CommandOutcome {
  const format = options.format;
  if (format === "json")
    return {
      output: JSON.stringify({ formatVersion: 1, transaction: { ...tx, at: new Date(tx.at).toISOString() } }),
      exitCode: 0,
    };
  if (format === "csv") return { output: historyTable([tx]), exitCode: 0 };
  const note = tx.duplicate ? " (already recorded: nothing changed)" : "";
  return {
    output: `${tx.customer}: ${tx.kind} ${tx.amount} (id ${tx.id}), balance ${tx.balanceAfter}${note}`,
    exitCode: 0,
  };
}

export async function runTopup(options: Options, ctx: CliContext): Promise<CommandOutcome> {
  const customer = String(arg(options, 0));
  const amount = String(arg(options, 1));
  const tx = await withEngine(options, ctx, (engine, _store, policy) => {
    const expiresAt = instant(options.expires, policy.timezone, "--expires");
    const t = engine.topUp(customer, amount, {
      ...(options.id === undefined ? {} : { id: String(options.id) }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
      ...(options.priority === undefined ? {} : { priority: Number(options.priority) }),
      ...(options.note === undefined ? {} : { note: String(options.note) }),
    });
    return stored(engine, t);
  });
  return txOutcome(options, tx);
}

export async function runAdjust(options: Options, ctx: CliContext): Promise<CommandOutcome> {
  const customer = String(arg(options, 0));
  const amount = String(arg(options, 1));
  if (options.note === undefined) throw new UsageError("--note is required: say why the balance is adjusted");
  const tx = await withEngine(options, ctx, (engine) =>
    stored(
      engine,
      engine.adjust(customer, amount, {
        note: String(options.note),
        ...(options.id === undefined ? {} : { id: String(options.id) }),
      }),
    ),
  );
  return txOutcome(options, tx);
}

function historyTable(txs: WalletTransaction[]): string {
  const header = [
    "at",
    "id",
    "kind",
    "amount",
    "balance_after",
    "bundle_version",
    "entitlement",
    "lot",
    "note",
  ];
  return table(
    header,
    txs.map((t) => [
      new Date(t.at).toISOString(),
      t.id,
      t.kind,
      t.amount,
      t.balanceAfter,
      t.bundleVersion,
      t.entitlement,
      t.lot,
      t.note,
    ]),
  );
}

export async function runHistory(options: Options, ctx: CliContext): Promise<CommandOutcome> {
  const customer = String(arg(options, 0));
  const txs = await withEngine(
    options,
    ctx,
    (engine, _store, policy) => {
      const from = instant(options.from, policy.timezone, "--from");
      const to = instant(options.to, policy.timezone, "--to");
      return engine.transactions(customer, {
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
      });
    },
    false,
  );
  const format = options.format;
  if (format === "json")
    return {
      output: JSON.stringify({
        formatVersion: 1,
        customer,
        transactions: txs.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
      }),
      exitCode: 0,
    };
  if (format === "csv") return { output: historyTable(txs), exitCode: 0 };
  if (txs.length === 0) return { output: `${customer}: no wallet transactions`, exitCode: 0 };
  return {
    output: txs
      .map(
        (t) =>
          `${new Date(t.at).toISOString()}  ${t.kind.padEnd(10)} ${t.amount.padStart(14)}  -> ${t.balanceAfter.padStart(14)}  ${t.id}${t.note ? `  (${t.note})` : ""}`,
      )
      .join("\n"),
    exitCode: 0,
  };
}
