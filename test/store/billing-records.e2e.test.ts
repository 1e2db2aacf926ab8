import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openUsageStore } from "../../src/engine/adapters/store/open-usage-store.js";
import type { UsageStore } from "../../src/engine/core/usage/store-port.js";
import { pgQuery, pgSchema } from "../helpers/pg-schema.js";

/**
 * What `bill` keeps and reads about its own history, the same on the SQLite
 * file and the shared Postgres store: recorded bundle activations (R14),
 * invoices as pushed, and the late events of their periods (SPEC §15).
 */
const schema = pgSchema();
const dir = mkdtempSync(join(tmpdir(), "limitr-records-"));
afterAll(async () => {
  await schema.drop();
  rmSync(dir, { recursive: true, force: true });
});

const OCT = { start: Date.parse("2026-10-01T00:00:00Z"), end: Date.parse("2026-11-01T00:00:00Z") };
const event = (id: string, customer: string, day: string) => ({
  id,
  type: "api.request",
  customer,
  ts: Date.parse(`${day}T12:00:00Z`),
  value: null,
  properties: null,
});

const stores: [
  string,
  () => Promise<{ store: UsageStore; activate: (at: number, v: number) => Promise<void> }>,
][] = [
  [
    "sqlite",
    async () => {
      const file = join(dir, "usage.db");
      const store = await openUsageStore(file, { create: true });
      return {
        store,
        activate: async (at, v) => {
          const db = new Database(file);
          db.prepare(
            "INSERT INTO bundle_activations (activated_at, version, digest, source) VALUES (?, ?, ?, 'store')",
          ).run(at, v, `sha256:${v}`);
          db.close();
        },
      };
    },
  ],
  [
    "postgres",
    async () => {
      const store = await openUsageStore(schema.url, { create: true });
      return {
        store,
        activate: async (at, v) => {
          await pgQuery(
            "INSERT INTO bundle_activations (activated_at, version, digest, source) VALUES ($1, $2, $3, 'store')",
            [at, v, `sha256:${v}`],
            schema.name,
          );
        },
      };
    },
  ],
];

describe.each(stores)("%s store: billing records", (_name, open) => {
  it("activations in order; pushed invoices kept once; late events counted per period and customer", async () => {
    const { store, activate } = await open();
    try {
      expect(await store.bundleActivations()).toEqual([]);
      await activate(OCT.start + 5, 1);
      await activate(OCT.start + 10, 2);
      expect(await store.bundleActivations()).toEqual([
        { at: OCT.start + 5, version: 1, digest: "sha256:1", source: "store" },
        { at: OCT.start + 10, version: 2, digest: "sha256:2", source: "store" },
      ]);

      expect(await store.maxEventSeq()).toBe(0);
      await store.insertEvents([event("a", "acme", "2026-10-03"), event("b", "beta", "2026-10-04")]);
      const through = await store.maxEventSeq();
      expect(through).toBeGreaterThanOrEqual(2);
      const row = {
        number: "p-2026-10-0001",
        adjusts: "p-2026-10-0001",
        customer: "acme",
        periodStart: OCT.start,
        periodEnd: OCT.end,
        throughSeq: through,
        invoice: '{"invoice":{},"keys":[]}',
        pushedAt: 1,
      };
      await store.recordPushedInvoice(row);
      await store.recordPushedInvoice({ ...row, invoice: "changed", pushedAt: 2 });
      expect(await store.pushedInvoices(OCT)).toEqual([row]);
      expect(await store.pushedInvoices({ start: OCT.start, end: OCT.end + 1 })).toEqual([]);

      await store.insertEvents([
        event("c", "acme", "2026-10-20"),
        event("d", "acme", "2026-10-21"),
        event("e", "beta", "2026-10-22"),
        event("f", "acme", "2026-11-02"),
        event("a", "acme", "2026-10-03"),
      ]);
      expect(await store.lateEvents(0)).toEqual([
        { periodStart: OCT.start, periodEnd: OCT.end, customer: "acme", events: 2 },
        { periodStart: OCT.start, periodEnd: OCT.end, customer: "beta", events: 1 },
      ]);
      const later = await store.maxEventSeq();
      expect(await store.lateEvents(later)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
