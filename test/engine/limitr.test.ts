import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadValidPolicy } from "../../src/engine/adapters/policy-source.js";
import { openDatabase } from "../../src/engine/adapters/store/database.js";
import { MemoryEngineStore } from "../../src/engine/adapters/store/memory-store.js";
import { canonicalJson, compilePolicy } from "../../src/engine/core/compile.js";
import { InputError, PolicyError } from "../../src/engine/core/errors.js";
import { Limitr } from "../../src/engine/runtime/limitr.js";

const POLICIES = join(import.meta.dirname, "../../policies");
const at = (iso: string) => ({ now: Date.parse(iso) });
const OCT = at("2026-10-05T12:00:00Z");

const engines: Limitr[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "limitr-engine-"));
  dirs.push(d);
  return d;
}

async function open(options: Parameters<typeof Limitr.open>[0]): Promise<Limitr> {
  const e = await Limitr.open(options);
  engines.push(e);
  return e;
}

function storedEvents(dbPath: string): {
  id: string;
  type: string;
  value: number;
  properties: string | null;
  bundle_version: number;
  bundle_digest: string;
}[] {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return db
      .prepare("SELECT id, type, value, properties, bundle_version, bundle_digest FROM events ORDER BY seq")
      .all() as never;
  } finally {
    db.close();
  }
}

const tiny = compilePolicy({
  limitr: 1,
  timezone: "UTC",
  meters: { calls: { event: "api.request", aggregation: "count" } },
  plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 10 } } } },
});

describe("the example policy (policies/)", () => {
  it("free customers get the daily api limit with its burst governor", async () => {
    const limitr = await open({ policy: POLICIES, store: "memory" });
    const results = Array.from({ length: 12 }, () => limitr.allow("signup-1", "api", 1, OCT));
    expect(results.filter(Boolean)).toHaveLength(10); // capacity 10
    expect(limitr.decide("signup-1", "api", 1, OCT).reason).toBe("rate_limited");
    const later = limitr.decide("signup-1", "api", 1, at("2026-10-05T12:00:01Z"));
    expect(later).toMatchObject({ allowed: true, used: 11, limit: 1000 });
    expect(new Date(later.resetsAt as number).toISOString()).toBe("2026-10-06T04:00:00.000Z"); // midnight New York
  });

  it("pro overage is priced at the marginal rate past the included tokens", async () => {
    const limitr = await open({ policy: POLICIES, store: "memory" });
    limitr.setPlan("p1", "pro", { at: "2026-10-01T00:00:00-04:00" });
    expect(limitr.decide("p1", "chat_input", 1_999_999, OCT)).toMatchObject({
      allowed: true,
      price: "0",
      overage: 0,
    });
    expect(limitr.decide("p1", "chat_input", 1001, OCT)).toMatchObject({
      allowed: true,
      overage: 1000,
      price: "0.003",
    });
    expect(limitr.check("p1", "seats", 6, OCT)).toMatchObject({ allowed: false, reason: "limit_exceeded" });
  });

  it("a contract override applies until its expiry day, then the plan's limit returns", async () => {
    const limitr = await open({ policy: POLICIES, store: "memory" });
    expect(limitr.usage("globex", "chat_input", at("2026-12-31T23:00:00-05:00")).limit).toBe(5_000_000);
    expect(limitr.usage("globex", "chat_input", at("2027-01-01T00:00:00-05:00")).limit).toBe(2_000_000);
  });

  it("R7 enterprise GPU seconds of a subsidiary count against the holding's pool", async () => {
    const limitr = await open({ policy: POLICIES, store: "memory" });
    limitr.allow("acme-research", "gpu", 600, OCT);
    limitr.allow("acme-holdings", "gpu", 400, OCT);
    expect(limitr.usage("acme-research", "gpu", OCT).used).toBe(1000);
    expect(limitr.usage("acme-holdings", "gpu", OCT).used).toBe(1000);
  });

  it("R14 a counted call is stored as a usage event of the meter, with the bundle it was decided under", async () => {
    const dir = tempDir();
    const db = join(dir, "usage.db");
    const limitr = await open({ policy: POLICIES, store: `sqlite:${db}` });
    const hex = createHash("sha256")
      .update(canonicalJson(loadValidPolicy(POLICIES)))
      .digest("hex");
    const digest = `sha256:${hex}`;
    expect(limitr.status()).toMatchObject({ activeVersion: 0, activeDigest: digest });
    const d = limitr.decide("globex", "chat_input", 1200, {
      ...OCT,
      id: "req-1",
      properties: { model: "gpt-4o" },
    });
    expect(d).toMatchObject({ version: 0, digest });
    await limitr.flush();
    const [event] = storedEvents(db);
    expect(event).toMatchObject({
      id: "req-1",
      type: "llm.completion",
      value: 1200,
      bundle_version: 0,
      bundle_digest: digest,
    });
    expect(JSON.parse(event?.properties ?? "{}")).toEqual({ model: "gpt-4o", input_tokens: 1200 });
  });
});

describe("policy sources", () => {
  it("R14 a bundle file's manifest version and digest travel with every decision", async () => {
    const dir = tempDir();
    const digest = `sha256:${createHash("sha256").update(canonicalJson(tiny)).digest("hex")}`;
    const file = join(dir, "bundle.json");
    writeFileSync(file, JSON.stringify({ manifest: { version: 7, digest }, policy: tiny }));
    const limitr = await open({ policy: file, store: "memory" });
    expect(limitr.decide("c1", "api")).toMatchObject({ allowed: true, version: 7, digest });
    expect(limitr.status()).toMatchObject({ activeVersion: 7, activeDigest: digest });
  });

  it("a bundle whose digest does not match its policy is refused", async () => {
    const dir = tempDir();
    const file = join(dir, "bundle.json");
    writeFileSync(file, JSON.stringify({ manifest: { version: 3, digest: "0".repeat(64) }, policy: tiny }));
    await expect(Limitr.open({ policy: file, store: "memory" })).rejects.toThrow(PolicyError);
  });

  it("a bundle file whose policy breaks a rule of `limitr validate` (a parent cycle) is refused", async () => {
    const cyclic = compilePolicy({
      limitr: 1,
      meters: { calls: { event: "api.request", aggregation: "count" } },
      plans: { free: { default: true, entitlements: { api: { meter: "calls", limit: 10 } } } },
      customers: { a: { parent: "b" }, b: { parent: "a" } },
    });
    const digest = `sha256:${createHash("sha256").update(canonicalJson(cyclic)).digest("hex")}`;
    const file = join(tempDir(), "bundle.json");
    writeFileSync(file, JSON.stringify({ manifest: { version: 3, digest }, policy: cyclic }));
    await expect(Limitr.open({ policy: file, store: "memory" })).rejects.toThrow(
      /customers\.a is its own ancestor: a -> b -> a/,
    );
  });

  it("an unknown store kind is a clear error", async () => {
    await expect(Limitr.open({ policy: tiny, store: "redis://localhost" })).rejects.toThrow(
      /memory.*sqlite:PATH/,
    );
  });
});

describe("durability and write-behind", () => {
  it("sync durability commits each counted decision before it returns", async () => {
    const db = join(tempDir(), "usage.db");
    const limitr = await open({ policy: tiny, store: `sqlite:${db}`, durability: "sync" });
    limitr.allow("c1", "api", 2);
    expect(storedEvents(db)).toHaveLength(1);
    limitr.allow("c1", "api", 1);
    expect(storedEvents(db).map((e) => e.value)).toEqual([2, 1]);
  });

  it("batched durability writes when the batch fills, on flush and on close", async () => {
    const db = join(tempDir(), "usage.db");
    const limitr = await open({
      policy: tiny,
      store: `sqlite:${db}`,
      batch: { maxEvents: 3, maxDelayMs: 60_000 },
    });
    limitr.allow("c1", "api");
    limitr.allow("c1", "api");
    expect(storedEvents(db)).toHaveLength(0);
    expect(limitr.status().pendingEvents).toBe(2);
    limitr.allow("c1", "api");
    expect(storedEvents(db)).toHaveLength(3);
    limitr.allow("c1", "api");
    await limitr.flush();
    expect(storedEvents(db)).toHaveLength(4);
    limitr.allow("c1", "api");
    await limitr.close();
    expect(storedEvents(db)).toHaveLength(5);
  });

  it("a batch written because the buffer filled leaves the changed counters to the timed flush", async () => {
    const db = join(tempDir(), "usage.db");
    const limitr = await open({
      policy: tiny,
      store: `sqlite:${db}`,
      batch: { maxEvents: 3, maxDelayMs: 40 },
    });
    const counters = () => {
      const d = openDatabase(db, { readonly: true });
      try {
        return d.prepare("SELECT key, used, events FROM counters").all();
      } finally {
        d.close();
      }
    };
    for (let i = 0; i < 3; i++) limitr.allow("c1", "api", 2);
    expect(storedEvents(db)).toHaveLength(3);
    expect(counters()).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(counters()).toEqual([{ key: "api|c1", used: 6, events: 3 }]);
    for (let i = 0; i < 3; i++) limitr.allow("c1", "api", 1);
    expect(storedEvents(db)).toHaveLength(6);
    await limitr.flush();
    expect(counters()).toEqual([{ key: "api|c1", used: 9, events: 6 }]);
    await limitr.close();
    const reopened = await open({ policy: tiny, store: `sqlite:${db}` });
    expect(reopened.usage("c1", "api").used).toBe(9);
    await reopened.close();
  });

  it("batched durability writes after maxDelayMs without any further call", async () => {
    const db = join(tempDir(), "usage.db");
    const limitr = await open({ policy: tiny, store: `sqlite:${db}`, batch: { maxDelayMs: 20 } });
    limitr.allow("c1", "api");
    await new Promise((r) => setTimeout(r, 150));
    expect(storedEvents(db)).toHaveLength(1);
    expect(limitr.status().lastFlushAt).not.toBeNull();
  });

  it("R13 idempotency remembers the configured number of recent ids (older ids count again)", async () => {
    const limitr = await open({ policy: tiny, store: "memory", idempotencyWindow: 2 });
    for (const id of ["a", "b", "a", "c", "a"]) limitr.allow("c1", "api", 1, { id });
    // "a" was counted, remembered through "b", and evicted by "c": 4 counts.
    expect(limitr.usage("c1", "api").used).toBe(4);
  });
});

/** A memory store whose writes fail while `failing` is set (a full disk, a locked file). */
class FlakyStore extends MemoryEngineStore {
  failing = false;
  override write(batch: Parameters<MemoryEngineStore["write"]>[0]): void {
    if (this.failing) throw new Error("disk full");
    super.write(batch);
  }
}

describe("store failures", () => {
  it("a batched write that fails never fails the call: the batch stays buffered until a write succeeds", async () => {
    const store = new FlakyStore();
    const limitr = await open({ policy: tiny, store, batch: { maxEvents: 2, maxDelayMs: 60_000 } });
    store.failing = true;
    expect([1, 2, 3].map(() => limitr.allow("c1", "api"))).toEqual([true, true, true]);
    expect(limitr.status()).toMatchObject({ pendingEvents: 3, lastError: "flush failed: disk full" });
    await expect(limitr.flush()).rejects.toThrow("disk full");
    store.failing = false;
    await limitr.flush();
    expect(store.events()).toHaveLength(3);
    expect(limitr.status()).toMatchObject({ pendingEvents: 0, lastError: null });
  });

  it("R13 with sync durability a failed write throws and leaves no trace: no count, and the id is not marked seen", async () => {
    const store = new FlakyStore();
    const limitr = await open({ policy: tiny, store, durability: "sync" });
    store.failing = true;
    expect(() => limitr.allow("c1", "api", 4, { id: "req-9" })).toThrow("disk full");
    expect(limitr.usage("c1", "api").used).toBe(0);
    store.failing = false;
    expect(limitr.decide("c1", "api", 4, { id: "req-9" })).toMatchObject({ reason: "ok", used: 4 });
    expect(store.events().map((e) => e.id)).toEqual(["req-9"]);
  });
});

describe("engine API contract", () => {
  it("decisions never throw on bad runtime input", async () => {
    const limitr = await open({ policy: tiny, store: "memory" });
    expect(limitr.decide("c1", "api", Number.NaN).reason).toBe("invalid_amount");
    expect(limitr.decide("c1", "api", "5" as unknown as number).reason).toBe("invalid_amount");
    expect(limitr.decide("c1", "api", Number.POSITIVE_INFINITY).reason).toBe("invalid_amount");
    expect(limitr.reserve("c1", "api", Number.NaN)).toBeNull();
    expect(limitr.usage("c1", "api").used).toBe(0);
  });

  it("setPlan refuses a plan the policy does not define, and record refuses a bad timestamp", async () => {
    const limitr = await open({ policy: tiny, store: "memory" });
    expect(() => limitr.setPlan("c1", "platinum")).toThrow(InputError);
    expect(() => limitr.record({ type: "api.request", customer: "c1", timestamp: "yesterday" })).toThrow(
      InputError,
    );
  });

  it("listeners can be removed, and one that throws never changes the decision", async () => {
    const limitr = await open({ policy: tiny, store: "memory" });
    const seen: string[] = [];
    const off = limitr.on("denied", (e) => seen.push(e.reason));
    limitr.on("threshold", () => {
      throw new Error("listener bug");
    });
    expect(limitr.allow("c1", "api", 10)).toBe(true);
    expect(limitr.status().lastError).toMatch(/listener bug/);
    expect(limitr.allow("c1", "api")).toBe(false);
    off();
    expect(limitr.allow("c1", "api")).toBe(false);
    expect(seen).toEqual(["limit_exceeded"]);
  });

  it("a memory store handed to a new engine restores counters, holds and plan history", async () => {
    const store = new MemoryEngineStore();
    const first = await Limitr.open({ policy: tiny, store });
    first.allow("c1", "api", 4, OCT);
    const hold = first.reserve("c1", "api", 3, { ttlMs: 3_600_000, ...OCT });
    await first.close();
    const second = await open({ policy: tiny, store });
    expect(second.usage("c1", "api", OCT)).toMatchObject({ used: 4, held: 3, remaining: 3 });
    expect(hold && second.release(hold, OCT)).toBe(true);
    expect(store.events()).toHaveLength(1);
  });
});
