import { resolve } from "node:path";
import { loadValidPolicy } from "limitr-engine/adapters/policy-source";
import { type StoreSummary, summarizeUsageStore } from "limitr-engine/adapters/store/store-summary";
import type { PinRecord } from "limitr-engine/core/bundles/manifest";
import { shortDigest } from "limitr-engine/core/bundles/manifest";
import { readCurrent, readPin } from "limitr-engine/core/bundles/port";
import { openEnvironment } from "../adapters/bundles/environment.js";
import { readerFor } from "../adapters/bundles/location.js";
import type { CliContext, CommandOutcome } from "../context.js";
import { renderPlain, text, type View } from "../render/view.js";

/**
 * `limitr status`: what each environment serves (current version, digest,
 * who signed it, whether a rollback pinned it) and what the usage store holds.
 * Read-only: it creates no store and migrates none. An environment that
 * cannot be read is reported in its row and makes the exit code 1.
 */
interface EnvironmentStatus {
  environment: string;
  store: string;
  version: number | null;
  digest: string | null;
  signer: string | null;
  pinned: PinRecord | null;
  createdAt: string | null;
  createdBy: string | null;
  commit: string | null;
  error: string | null;
}

async function environmentStatus(
  flags: { policies: string; store?: string },
  env: string | undefined,
  cwd: string,
): Promise<EnvironmentStatus> {
  const target = await openEnvironment({ ...flags, env }, cwd, false);
  const reader = readerFor(target.location);
  const row: EnvironmentStatus = {
    environment: target.env,
    store: reader.location,
    version: null,
    digest: null,
    signer: null,
    pinned: null,
    createdAt: null,
    createdBy: null,
    commit: null,
    error: null,
  };
  try {
    const current = await readCurrent(reader);
    const m = current?.manifest;
    return {
      ...row,
      version: m?.version ?? null,
      digest: m?.digest ?? null,
      signer: current?.signature?.keyId ?? null,
      pinned: await readPin(reader),
      createdAt: m?.createdAt ?? null,
      createdBy: m?.createdBy ?? null,
      commit: m?.source.commit ?? null,
    };
  } catch (err) {
    return { ...row, error: (err as Error).message };
  }
}

export async function run(options: Record<string, unknown>, ctx: CliContext): Promise<CommandOutcome> {
  const flags = { policies: String(options.policies), store: options.store as string | undefined };
  let zone = "UTC";
  let names: (string | undefined)[] = [options.env as string | undefined];
  try {
    const policy = loadValidPolicy(resolve(ctx.cwd, flags.policies));
    zone = policy.timezone;
    if (options.env === undefined && policy.bundles?.environments.length) names = policy.bundles.environments;
  } catch (err) {
    // The store alone can still be described; the environments need the policy or --env/--store.
    if (options.env === undefined || flags.store === undefined) throw err;
  }
  const environments: EnvironmentStatus[] = [];
  for (const name of names) environments.push(await environmentStatus(flags, name, ctx.cwd));
  const store = await summarizeUsageStore(String(options.db), ctx.cwd);
  const exitCode = environments.some((e) => e.error) ? 1 : 0;
  if (options.format === "json") {
    const json = {
      formatVersion: 1,
      environments,
      store: {
        ...store,
        firstEvent: iso(store.firstEvent),
        lastEvent: iso(store.lastEvent),
      },
    };
    return { output: JSON.stringify(json, null, 2), exitCode };
  }
  const view = statusView(environments, store, zone);
  return { output: renderPlain(view), view, exitCode };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function statusView(environments: EnvironmentStatus[], store: StoreSummary, zone: string): View {
  const rows = environments.map((e) => [
    e.environment,
    e.error ? "error" : e.version === null ? "-" : String(e.version),
    e.digest ? shortDigest(e.digest) : "-",
    e.signer ?? (e.version === null ? "-" : "unsigned"),
    e.pinned ? `at ${e.pinned.version}: ${e.pinned.reason}` : "no",
    e.error ?? (e.version === null ? "nothing published" : `${e.createdAt ?? "?"} by ${e.createdBy ?? "?"}`),
  ]);
  const date = (ms: number | null) =>
    ms === null ? "-" : new Date(ms).toLocaleString("sv-SE", { timeZone: zone }).replace(" ", "T");
  const storeLines = store.exists
    ? [
        `store ${store.path} (schema ${store.schemaVersion} of ${store.currentSchemaVersion})`,
        `  ${store.events} events from ${date(store.firstEvent)} to ${date(store.lastEvent)} (${zone})`,
        `  ${store.customers} customers, ${store.subscriptions} recorded plan changes`,
      ]
    : [`store ${store.path}: not created yet (usage import or the engine creates it)`];
  return [
    {
      kind: "table",
      columns: ["ENVIRONMENT", "VERSION", "DIGEST", "SIGNER", "PINNED", "PUBLISHED"].map((header) => ({
        header,
      })),
      rows,
    },
    text(""),
    ...storeLines.map((l) => text(l)),
  ];
}
