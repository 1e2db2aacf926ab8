import { randomBytes } from "node:crypto";
import { SqliteEngineStore } from "../adapters/store/engine-store.js";
import { MemoryEngineStore } from "../adapters/store/memory-store.js";
import type { Counter } from "../core/engine/counter.js";
import type { Decision, Hold, Reason, Usage } from "../core/engine/decision.js";
import { marginalPrice } from "../core/engine/marginal-price.js";
import { type PlanChange, PolicyIndex } from "../core/engine/resolve.js";
import type { EngineStore } from "../core/engine/store-port.js";
import { InputError } from "../core/errors.js";
import type { PropertyValue } from "../core/model.js";
import { LIFETIME, parseInstant } from "../core/periods.js";
import { type EngineEventName, type EngineEvents, Notifier } from "./events.js";
import { Meters, type NoticeContext } from "./meters.js";
import { loadPolicyInput, type PolicyInput } from "./policy-input.js";
import type { Slot } from "./slot.js";
import { generatedId, WriteBehind } from "./write-behind.js";

export type Durability = "batched" | "sync";
export type Instant = number | Date;

export interface LimitrOptions {
  /** A policy directory, a bundle `.json` file (`{ manifest, policy }`), or a compiled policy / bundle object. */
  policy: PolicyInput;
  /** `"memory"`, `"sqlite:PATH"` (default `sqlite:.limitr/usage.db`), or a store instance. */
  store?: string | EngineStore;
  /** `batched` (default): write-behind in bounded batches. `sync`: every counted decision is committed before it returns. */
  durability?: Durability;
  batch?: { maxEvents?: number; maxDelayMs?: number };
  /** Clock used when a call passes no `now` (default `Date.now`). */
  now?: () => Instant;
  /** How many recent event ids are remembered for idempotency (R13); default 100,000. */
  idempotencyWindow?: number;
}

export interface CallOptions {
  properties?: Record<string, PropertyValue>;
  /** Idempotency key: a call with an id already counted counts nothing (R13). */
  id?: string;
  now?: Instant;
}

/** A usage event for `record` (SPEC §6). */
export interface UsageEventInput {
  id?: string;
  type: string;
  customer: string;
  /** ISO-8601 or epoch ms; default now. */
  timestamp?: string | number | Date;
  value?: number;
  properties?: Record<string, PropertyValue>;
}

export interface RecordResult {
  id: string;
  /** The id was already recorded: nothing was counted again (R13). */
  duplicate: boolean;
  /** Each entitlement the event counted toward, with its counter after the event. */
  counted: { entitlement: string; amount: number; used: number; limit: number | null; overage: number }[];
  version: number;
  digest: string;
}

export interface EngineStatus {
  activeVersion: number;
  activeDigest: string;
  store: string;
  durability: Durability;
  /** Events buffered and not yet written. */
  pendingEvents: number;
  lastFlushAt: number | null;
  lastError: string | null;
}

const EPS = 1e-9;
const open = new Set<Limitr>();
let exitHooked = false;

/** Flush every open engine when the process ends (synchronously: `exit` allows nothing else). */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const flushAll = () => {
    for (const engine of open) engine.flushQuietly();
  };
  process.on("beforeExit", flushAll);
  process.on("exit", () => {
    for (const engine of [...open]) engine.closeSync();
  });
}

function toMs(t: Instant): number {
  return typeof t === "number" ? t : t.getTime();
}

/**
 * The embedded engine: decides, meters and records usage in-process and
 * synchronously (SPEC §4). One engine per store file.
 *
 * @example
 * const limitr = await Limitr.open({ policy: "./policies", store: "sqlite:.limitr/usage.db" });
 * if (!limitr.allow("acme", "api")) return res.status(429).end();
 * await limitr.close();
 */
export class Limitr {
  private readonly index: PolicyIndex;
  private readonly version: number;
  private readonly digest: string;
  private readonly zone: string;
  private readonly store: EngineStore;
  private readonly durability: Durability;
  private readonly maxEvents: number;
  private readonly maxDelayMs: number;
  private readonly clock: () => number;
  private readonly notifier = new Notifier();
  private readonly wb: WriteBehind;
  private readonly meters: Meters;
  private readonly notice: NoticeContext;
  private readonly history = new Map<string, PlanChange[]>();
  private readonly idPrefix: string;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastFlushAt: number | null = null;
  private lastError: string | null = null;
  // Idempotency window: a set plus a ring of the same ids in arrival order, to evict the oldest.
  private readonly seen = new Set<string>();
  private readonly ring: (string | undefined)[];
  private ringPos = 0;
  // What the last evaluation saw, read by decide()/check() to build a Decision without allocating in allow().
  private lastSlot: Slot | null = null;
  private lastReason: Reason = "ok";
  private lastPrev = 0;
  private lastEvents = 0;
  private lastApplied = 0;

  private constructor(options: LimitrOptions) {
    const active = loadPolicyInput(options.policy);
    this.index = new PolicyIndex(active.policy);
    this.version = active.version;
    this.digest = active.digest;
    this.zone = active.policy.timezone;
    this.notice = { notifier: this.notifier, version: this.version, digest: this.digest };
    this.durability = options.durability ?? "batched";
    if (this.durability !== "batched" && this.durability !== "sync") {
      throw new InputError(`durability must be "batched" or "sync" (got ${String(this.durability)})`);
    }
    this.maxEvents = Math.max(1, options.batch?.maxEvents ?? 10_000);
    this.maxDelayMs = Math.max(0, options.batch?.maxDelayMs ?? 1000);
    const clock = options.now;
    this.clock = clock ? () => toMs(clock()) : Date.now;
    this.ring = new Array(Math.max(1, options.idempotencyWindow ?? 100_000));
    this.idPrefix = `${randomBytes(6).toString("hex")}-`;
    this.wb = new WriteBehind(this.idPrefix);
    this.store = openStore(options.store ?? "sqlite:.limitr/usage.db");
    try {
      for (const row of this.store.loadPlanHistory())
        this.insertPlanChange(row.customer, row.effectiveAt, row.plan);
      for (const id of this.store.recentEventIds(this.ring.length)) this.remember(id);
      this.meters = new Meters(
        this.index,
        this.history,
        this.zone,
        this.store.loadCounters(),
        this.store.loadHolds(),
      );
    } catch (err) {
      this.store.close();
      throw err;
    }
    open.add(this);
    hookExit();
  }

  /**
   * Open an engine. Async so that remote policy sources can join later; the
   * decision methods themselves are synchronous.
   *
   * @example
   * const limitr = await Limitr.open({ policy: "./policies", store: "memory", durability: "batched" });
   */
  static async open(options: LimitrOptions): Promise<Limitr> {
    return new Limitr(options);
  }

  /**
   * Decide and count in one step; true when allowed. The hot path: no I/O
   * (except a full write-behind batch, or `durability: "sync"`), no awaits.
   *
   * @example
   * if (limitr.allow("acme", "chat_input", 1200, { id: requestId })) callModel();
   */
  allow(customer: string, entitlement: string, amount = 1, options?: CallOptions): boolean {
    const now = options === undefined || options.now === undefined ? this.clock() : toMs(options.now);
    return this.evaluate(customer, entitlement, amount, now, options, true);
  }

  /** Like `allow`, returning the full Decision (with the marginal `price`); counts when allowed. */
  decide(customer: string, entitlement: string, amount = 1, options?: CallOptions): Decision {
    const now = options?.now === undefined ? this.clock() : toMs(options.now);
    const allowed = this.evaluate(customer, entitlement, amount, now, options, true);
    return this.decision(allowed, amount, allowed && this.lastReason === "ok");
  }

  /** What `decide` would answer, counting nothing and consuming no rate tokens. */
  check(
    customer: string,
    entitlement: string,
    amount = 1,
    options?: Pick<CallOptions, "now" | "id">,
  ): Decision {
    const now = options?.now === undefined ? this.clock() : toMs(options.now);
    const allowed = this.evaluate(customer, entitlement, amount, now, options, false);
    return this.decision(allowed, amount, false);
  }

  /**
   * Record an event after the work was done (Check -> Call -> Record): it
   * counts toward every entitlement of the customer's plan whose meter matches
   * its type and `where` filter, whatever the limits say.
   *
   * @example
   * if (limitr.check("acme", "chat_input", estimate).allowed) {
   *   const r = await llm.complete(prompt);
   *   limitr.record({ type: "llm.completion", customer: "acme", properties: { input_tokens: r.in, output_tokens: r.out } });
   * }
   */
  record(event: UsageEventInput): RecordResult {
    const ts = this.instant(event.timestamp);
    const seq = this.seq++;
    const id = event.id ?? generatedId(this.idPrefix, seq);
    const base = { id, version: this.version, digest: this.digest };
    if (event.id !== undefined && this.seen.has(event.id)) return { ...base, duplicate: true, counted: [] };
    const counted = this.meters.applyEvent(event, ts, this.wb, this.notice);
    this.wb.events.push(
      event.id,
      seq,
      event.type,
      event.customer,
      ts,
      event.value ?? null,
      event.properties,
      null,
    );
    if (event.id !== undefined) this.remember(event.id);
    this.afterWrite(ts);
    return { ...base, duplicate: false, counted };
  }

  /**
   * Hold `amount` units against the limit until settled, released or `ttlMs`
   * (default 60 s) passes (R8). Returns null when refused (R8: amount <= 0 is refused).
   *
   * @example
   * const hold = limitr.reserve("acme", "gpu", 600, { ttlMs: 15 * 60_000 });
   * if (hold) limitr.settle(hold, await runJob());
   */
  reserve(
    customer: string,
    entitlement: string,
    amount: number,
    options: { ttlMs?: number; now?: Instant } = {},
  ): Hold | null {
    const now = options.now === undefined ? this.clock() : toMs(options.now);
    const ttl = options.ttlMs ?? 60_000;
    const slot = this.meters.slot(customer, entitlement, now);
    let reason: Reason | null = slot.reason;
    if (reason === null && !(amount > 0 && amount < Infinity && ttl > 0)) reason = "invalid_amount";
    const c = slot.counter;
    if (reason === null && c !== null) {
      this.meters.freshen(slot, c, now);
      if (slot.hard && c.used + c.held + amount > slot.limit + EPS) reason = "limit_exceeded";
      else if (slot.bucket !== null && !slot.bucket.take(amount, now)) reason = "rate_limited";
    }
    if (reason !== null || c === null) {
      this.lastSlot = slot;
      this.lastReason = reason ?? "invalid_amount";
      if (this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
      return null;
    }
    const hold: Hold = Object.freeze({
      id: `h-${generatedId(this.idPrefix, this.seq++)}`,
      customer,
      entitlement,
      amount,
      expiresAt: now + ttl,
    });
    c.addHold(hold);
    this.wb.holdsUpsert.push({ ...hold, key: c.key });
    this.afterWrite(now);
    return hold;
  }

  /**
   * Free a hold and count the actual usage (R8): `actual` may exceed the limit
   * (the work was done) and is counted even when the hold expired. Settling a
   * hold twice counts once (the hold id is the event id).
   */
  settle(
    hold: Hold,
    actual: number,
    options: { now?: Instant; properties?: Record<string, PropertyValue> } = {},
  ): Decision {
    const now = options.now === undefined ? this.clock() : toMs(options.now);
    this.freeHold(hold, now);
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    this.lastSlot = slot;
    if (slot.counter === null || !(actual >= 0 && actual < Infinity)) {
      this.lastReason = slot.reason ?? "invalid_amount";
      return this.decision(false, actual, false);
    }
    this.meters.freshen(slot, slot.counter, now);
    if (this.seen.has(hold.id)) {
      this.lastReason = "duplicate";
      return this.decision(true, actual, false);
    }
    this.lastReason = "ok";
    this.count(slot, slot.counter, actual, now, hold.id, options.properties);
    return this.decision(true, actual, true);
  }

  /** Free a hold without counting anything. Returns false when it was no longer active. */
  release(hold: Hold, options: { now?: Instant } = {}): boolean {
    return this.freeHold(hold, options.now === undefined ? this.clock() : toMs(options.now));
  }

  /** The current period's counter for a customer and entitlement (a read: a due reset is reported, not written). */
  usage(customer: string, entitlement: string, options: { now?: Instant } = {}): Usage {
    const now = options.now === undefined ? this.clock() : toMs(options.now);
    const slot = this.meters.slot(customer, entitlement, now);
    const c = slot.counter;
    if (c === null) return { used: 0, held: 0, limit: null, remaining: null, resetsAt: null };
    this.meters.freshen(slot, c, now);
    const limit = slot.limit === Infinity ? null : slot.limit;
    return {
      used: c.used,
      held: c.held,
      limit,
      remaining: limit === null ? null : Math.max(0, limit - c.used - c.held),
      resetsAt: c.periodEnd >= LIFETIME.end ? null : c.periodEnd,
    };
  }

  /**
   * Put a self-serve customer on `plan` from `at` (default now) on, recorded
   * in the plan history for proration. A policy contract naming a plan wins.
   */
  setPlan(customer: string, plan: string, options: { at?: Instant | string } = {}): void {
    if (!Object.hasOwn(this.index.policy.plans, plan)) {
      const known = Object.keys(this.index.policy.plans).join(", ");
      throw new InputError(`unknown plan "${plan}" for ${customer}; plans in the active policy: ${known}`);
    }
    const now = this.clock();
    const at = options.at === undefined ? now : this.instant(options.at);
    this.insertPlanChange(customer, at, plan);
    this.wb.subscriptions.push({ customer, effectiveAt: at, plan, recordedAt: now });
    // Parents' plans shape their descendants' shared counters: re-resolve everyone lazily.
    this.meters.invalidate();
    this.afterWrite(now);
  }

  /**
   * Listen to engine events; returns a function that removes the handler.
   * Handlers run synchronously after the decision is applied; an exception in
   * one is kept in `status().lastError` and never changes the decision.
   */
  on<K extends EngineEventName>(name: K, handler: (event: EngineEvents[K]) => void): () => void {
    return this.notifier.on(name, handler);
  }

  status(): EngineStatus {
    const listenerError = this.notifier.lastError;
    return {
      activeVersion: this.version,
      activeDigest: this.digest,
      store: this.store.location,
      durability: this.durability,
      pendingEvents: this.wb.events.length,
      lastFlushAt: this.lastFlushAt,
      lastError: this.lastError ?? (listenerError ? String(listenerError) : null),
    };
  }

  /** Write everything buffered in one transaction. Rejects when the store refuses the batch (it stays buffered). */
  async flush(): Promise<void> {
    this.flushNow(this.clock());
  }

  /** Flush, release the store and its owner lock. Idempotent. */
  async close(): Promise<void> {
    this.closeSync();
  }

  /** @internal process-exit path: everything must happen synchronously. */
  closeSync(): void {
    if (this.closed) return;
    try {
      this.flushNow(this.clock());
    } finally {
      this.closed = true;
      open.delete(this);
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.store.close();
    }
  }

  /** @internal timer and `beforeExit` path: a failure is kept for status() and retried. */
  flushQuietly(): void {
    this.timer = null;
    try {
      this.flushNow(this.clock());
    } catch {
      if (!this.closed && this.timer === null)
        this.timer = setTimeout(() => this.flushQuietly(), this.maxDelayMs).unref();
    }
  }

  // --- the decision path ---------------------------------------------------

  private evaluate(
    customer: string,
    entitlement: string,
    amount: number,
    now: number,
    options: CallOptions | undefined,
    commit: boolean,
  ): boolean {
    const slot = this.meters.slot(customer, entitlement, now);
    this.lastSlot = slot;
    this.lastApplied = 0;
    const c = slot.counter;
    if (slot.reason !== null || c === null) {
      this.lastReason = slot.reason ?? "unknown_entitlement";
      if (this.lastReason === "feature_enabled") return true;
      if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
      return false;
    }
    if (now >= c.periodEnd || now >= c.nextExpiry) this.meters.freshen(slot, c, now);
    this.lastPrev = c.used;
    this.lastEvents = c.events;
    if (typeof amount !== "number" || !Number.isFinite(amount)) {
      this.lastReason = "invalid_amount";
      if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
      return false;
    }
    const id = options === undefined ? undefined : options.id;
    if (id !== undefined && this.seen.has(id)) {
      this.lastReason = "duplicate";
      return true;
    }
    if (amount > 0) {
      if (slot.hard && c.used + c.held + amount > slot.limit + EPS) {
        this.lastReason = "limit_exceeded";
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
      const bucket = slot.bucket;
      if (bucket !== null && !(commit ? bucket.take(amount, now) : bucket.available(now) + EPS >= amount)) {
        this.lastReason = "rate_limited";
        if (commit && this.notifier.listening.denied) this.notifyDenied(slot, amount, now);
        return false;
      }
    }
    this.lastReason = "ok";
    if (commit && amount !== 0)
      this.count(slot, c, amount, now, id, options === undefined ? undefined : options.properties);
    return true;
  }

  private count(
    slot: Slot,
    c: Counter,
    amount: number,
    now: number,
    id: string | undefined,
    properties: Record<string, PropertyValue> | undefined,
  ): void {
    const prev = c.used;
    const events = c.events;
    const applied = c.add(amount);
    this.lastApplied = applied;
    this.wb.markDirty(c);
    this.wb.events.push(
      id,
      this.seq++,
      slot.eventType,
      slot.customer,
      now,
      applied,
      properties,
      slot.valueProp,
    );
    if (id !== undefined) this.remember(id);
    if (this.durability === "sync") {
      try {
        this.flushNow(now);
      } catch (err) {
        // Nothing of a decision that was not committed survives it (R13: the id is not marked seen).
        c.used = prev;
        c.events = events;
        this.wb.events.pop();
        if (id !== undefined) this.seen.delete(id);
        throw err;
      }
    } else if (this.wb.events.length >= this.maxEvents) this.flushNow(now);
    else if (this.timer === null) this.timer = setTimeout(() => this.flushQuietly(), this.maxDelayMs).unref();
    if (slot.limit !== Infinity && c.used >= slot.limit * 0.5)
      this.meters.crossings(slot, c, prev, amount, now, this.notice);
  }

  private decision(allowed: boolean, amount: number, counted: boolean): Decision {
    const slot = this.lastSlot as Slot;
    const c = slot.counter;
    const limit = slot.limit === Infinity || c === null ? null : slot.limit;
    const used = c === null ? 0 : c.used;
    const before = counted ? this.lastPrev : used;
    const delta = counted ? this.lastApplied : amount;
    const reason = this.lastReason;
    const priced = allowed && reason === "ok" && c !== null && delta !== 0;
    let overage = 0;
    if (priced && limit !== null && delta > 0)
      overage = Math.max(0, before + delta - Math.max(before, limit));
    return {
      allowed,
      reason,
      used,
      limit,
      remaining: limit === null || c === null ? null : Math.max(0, limit - used - c.held),
      resetsAt: c === null || c.periodEnd >= LIFETIME.end ? null : c.periodEnd,
      overage,
      price: priced
        ? marginalPrice(slot.eff.price, before, delta, counted ? this.lastEvents : (c?.events ?? 0))
        : "0",
      version: this.version,
      digest: this.digest,
    };
  }

  // --- helpers ---------------------------------------------------------------

  private notifyDenied(slot: Slot, amount: number, now: number): void {
    this.notifier.emit(
      "denied",
      this.meters.payload(slot, amount, now, this.lastReason, this.version, this.digest),
    );
  }

  private freeHold(hold: Hold, now: number): boolean {
    const slot = this.meters.slot(hold.customer, hold.entitlement, now);
    const c = slot.counter;
    if (c === null) return false;
    this.meters.freshen(slot, c, now);
    if (c.removeHold(hold.id) === null) return false;
    this.wb.holdsDelete.push(hold.id);
    this.afterWrite(now);
    return true;
  }

  private afterWrite(now: number): void {
    if (this.durability === "sync" || this.wb.events.length >= this.maxEvents) this.flushNow(now);
    else if (this.timer === null) this.timer = setTimeout(() => this.flushQuietly(), this.maxDelayMs).unref();
  }

  private flushNow(now: number): void {
    for (const id of this.meters.drainExpired()) this.wb.holdsDelete.push(id);
    if (!this.wb.pending) return;
    if (this.closed) throw new InputError("this limitr engine is closed; open a new one");
    try {
      this.store.write(this.wb.batch(this.version, this.digest, now));
    } catch (err) {
      this.lastError = `flush failed: ${(err as Error).message}`;
      throw err;
    }
    this.wb.committed();
    this.lastFlushAt = now;
    this.lastError = null;
  }

  private remember(id: string): void {
    const n = this.ring.length;
    const old = this.ring[this.ringPos];
    if (old !== undefined) this.seen.delete(old);
    this.ring[this.ringPos] = id;
    this.ringPos = this.ringPos + 1 === n ? 0 : this.ringPos + 1;
    this.seen.add(id);
  }

  private insertPlanChange(customer: string, at: number, plan: string): void {
    let list = this.history.get(customer);
    if (!list) this.history.set(customer, (list = []));
    const i = list.findIndex((c) => c.at >= at);
    if (i < 0) list.push({ at, plan });
    else if (list[i]?.at === at) list[i] = { at, plan };
    else list.splice(i, 0, { at, plan });
  }

  private instant(value: string | number | Date | undefined): number {
    if (value === undefined) return this.clock();
    if (value instanceof Date) return value.getTime();
    const ms = parseInstant(value, this.zone);
    if (ms === null)
      throw new InputError(`invalid timestamp ${String(value)} (ISO-8601 or epoch milliseconds)`);
    return ms;
  }
}

function openStore(store: string | EngineStore): EngineStore {
  if (typeof store !== "string") return store;
  if (store === "memory") return new MemoryEngineStore();
  if (store.startsWith("sqlite:")) return new SqliteEngineStore(store.slice("sqlite:".length));
  throw new InputError(
    `unknown store "${store}": use "memory" or "sqlite:PATH" (Redis/Postgres stores are planned)`,
  );
}
