import { randomBytes } from "node:crypto";
import { MemoryAlertStore } from "../adapters/alerts/memory-outbox.js";
import type { AlertStateStore } from "../adapters/alerts/outbox.js";
import { AlertStore } from "../adapters/alerts/outbox.js";
import { SqliteEngineStore } from "../adapters/store/engine-store.js";
import type { PgEngineAlerts } from "../adapters/store/postgres/engine-alerts.js";
import { isPostgresUrl, type PgLocation, redactUrl } from "../adapters/store/postgres/url.js";
import { addOnSet } from "../core/add-ons.js";
import { capNanos } from "../core/credits/caps.js";
import type { CompiledCap } from "../core/credits/types.js";
import type { Decision, Hold, Usage } from "../core/engine/decision.js";
import { ROW_LEASE_DEFAULTS } from "../core/engine/lease.js";
import type { CounterRow, EngineStore, HoldRow } from "../core/engine/store-port.js";
import { InputError } from "../core/errors.js";
import type { CompiledPolicy, PropertyValue } from "../core/model.js";
import { isSliding } from "../core/periods/spec.js";
import { parseInstant } from "../core/periods.js";
import { fromAtoms } from "../core/wallet/amount.js";
import { AlertDelivery } from "./alert-delivery.js";
import { BundleLoader } from "./bundle-loader.js";
import { Decider } from "./decider.js";
import { type EngineEventName, type EngineEvents, Notifier } from "./events.js";
import { Fence } from "./fence.js";
import { checkEvent, instantOf, requireName } from "./input-guards.js";
import { type LiveAlerts, type LiveFigures, liveAlertsFor } from "./live-alerts.js";
import { Meters } from "./meters.js";
import type {
  CallOptions,
  Durability,
  EngineStatus,
  Instant,
  LimitrOptions,
  PolicySourceKind,
  RecordResult,
  UsageEventInput,
} from "./options.js";
import { clockOf } from "./options.js";
import { IdWindow, openStore, Persistence, restoreFrom } from "./persistence.js";
import { PlanBook } from "./plan-book.js";
import { type ActivePolicy, isBundleStoreInput, loadPolicyInput } from "./policy-input.js";
import { PolicyState } from "./policy-state.js";
import { Reservations } from "./reservations.js";
import { type RowCounters, SharedCounters } from "./shared-counters.js";
import { SharedWallets } from "./shared-wallets.js";
import { type CapUsage, SpendCaps } from "./spend-caps.js";
import { TickClock } from "./tick-clock.js";
import { type WalletBalance, Wallets, type WalletTransaction } from "./wallets.js";
import type { WriteBehind } from "./write-behind.js";

const DEFAULT_STORE = "sqlite:.limitr/usage.db";

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
  private readonly source: PolicySourceKind;
  private readonly durability: Durability;
  private readonly sync: boolean;
  private readonly clock: () => number;
  private readonly notifier = new Notifier();
  private readonly persistence: Persistence;
  private readonly wb: WriteBehind;
  private readonly meters: Meters;
  private readonly plans = new PlanBook();
  private readonly idPrefix: string;
  private readonly seen: IdWindow;
  private readonly d: Decider;
  private readonly holds: Reservations;
  private readonly fence: Fence;
  private loadedHolds: string[] = [];
  private alertState: AlertStateStore | null = null;
  private delivery: AlertDelivery | null = null;
  private readonly store: EngineStore;
  private readonly wallets: Wallets;
  /** How long `flush` and `close` wait for a background-writing store (Postgres) to commit. */
  private readonly drainMs: number;
  /** Alert state and outbox in the Postgres store (an engine on `postgres://`). */
  private readonly pgAlerts: PgEngineAlerts | null;
  /** Live counters shared with other engines (`counters`); null when this engine's are its own. */
  private readonly shared: SharedCounters | null = null;

  private constructor(
    options: LimitrOptions,
    active: ActivePolicy,
    private readonly loader: BundleLoader | null,
    pg: {
      /** Leases and totals in the Postgres store's rows (a shared store without `counters`). */
      rows?: RowCounters | null;
      /** Live alert state and outbox in the Postgres store. */
      alerts?: PgEngineAlerts | null;
    } = {},
  ) {
    const rows = pg.rows ?? null;
    this.pgAlerts = pg.alerts ?? null;
    this.source = active.source;
    const state = new PolicyState(active.policy, active.version, active.digest, this.notifier, (c) =>
      this.plans.currencies.get(c),
    );
    this.durability = options.durability ?? "batched";
    if (this.durability !== "batched" && this.durability !== "sync") {
      throw new InputError(`durability must be "batched" or "sync" (got ${String(this.durability)})`);
    }
    this.sync = this.durability === "sync";
    this.clock = clockOf(options);
    this.drainMs = options.drainTimeoutMs ?? 30_000;
    this.seen = new IdWindow(options.idempotencyWindow ?? 100_000);
    this.idPrefix = `${randomBytes(6).toString("hex")}-`;
    const store = openStore(options.store ?? DEFAULT_STORE, options.storeLeaseMs);
    this.store = store;
    let restored: readonly CounterRow[] = [];
    let restoredHolds: readonly HoldRow[] = [];
    try {
      store.recordActivation({
        at: this.clock(),
        version: active.version,
        digest: active.digest,
        source: active.source,
        previousVersion: null,
      });
      const { counters, holds } = restoreFrom(store, this.plans, this.seen);
      restored = counters;
      this.meters = new Meters(state, this.plans.history, counters, holds);
      const pgShared = sharedPgLocation(store);
      this.wallets =
        pgShared === null
          ? new Wallets(() => this.meters.state, this.plans.history, this.idPrefix, store.loadWallets())
          : new SharedWallets(
              () => this.meters.state,
              this.plans.history,
              this.idPrefix,
              store.loadWallets(),
              pgShared,
              { ...options.walletLease, clock: this.clock },
            );
      this.meters.wallets = this.wallets;
      this.loadedHolds = holds.map((h) => h.id);
      if (this.wallets instanceof SharedWallets) restoredHolds = holds;
    } catch (err) {
      store.close();
      throw err;
    }
    this.persistence = new Persistence({
      store,
      sync: this.sync,
      maxEvents: Math.max(1, options.batch?.maxEvents ?? 10_000),
      maxDelayMs: Math.max(0, options.batch?.maxDelayMs ?? 1000),
      idPrefix: this.idPrefix,
      version: active.version,
      digest: active.digest,
      clock: this.clock,
      drainExpired: () => this.meters.drainExpired(),
      counters: this.meters.table,
      fenced: () => this.fence.markLost(),
      backlog: () => this.fence.markBacklog(),
    });
    this.fence = new Fence(store.lease ?? null, {
      lost: () => this.persistence.flushQuietly(),
      regained: () => this.reload(),
    });
    this.fence.backlogged = () => store.full?.(this.persistence.pendingEvents) === true;
    this.wb = this.persistence.wb;
    this.wb.wallets = this.wallets;
    this.d = new Decider(this.meters, this.persistence, this.seen, this.notifier, this.sync, this.fence);
    this.d.wallets = this.wallets;
    // With the wall clock, allow() reads it per tick of calls (see TickClock); an injected clock is read every call.
    if (options.now === undefined) this.d.tick = new TickClock(this.clock);
    this.d.caps = new SpendCaps(this.meters, this.plans.history);
    if (options.counters !== undefined) {
      this.shared = new SharedCounters(this.meters.table, {
        url: options.counters,
        prefix: options.countersPrefix,
        cluster: options.countersCluster,
        lease: options.lease,
        syncMs: options.countersSyncMs,
        restored,
        clock: this.clock,
      });
      this.d.shared = this.shared.book;
      this.d.caps.shared = this.shared.book;
    } else if (rows !== null) {
      this.shared = new SharedCounters(this.meters.table, {
        url: store.location,
        rows,
        lease: options.lease,
        syncMs: options.countersSyncMs,
        restored,
        clock: this.clock,
      });
      this.d.shared = this.shared.book;
      this.d.caps.shared = this.shared.book;
    }
    this.holds = new Reservations(
      this.meters,
      this.d,
      this.wb,
      this.persistence,
      this.seen,
      this.notifier,
      this.idPrefix,
      this.fence,
      store.storeId,
    );
    this.holds.wallets = this.wallets;
    for (const id of this.loadedHolds) this.holds.loaded.add(id);
    // A shared wallet keeps no holds in the store: the funds of reservations made before a restart are held again.
    if (restoredHolds.length > 0) this.holds.holdFundsAgain(restoredHolds, this.clock());
    // Plans recorded by other processes: re-resolve those customers (everyone, past a bulk import).
    this.plans.watch(store, options.planPollMs ?? 1000, (customers) => {
      if (customers.size > 1000) this.meters.invalidate();
      else for (const customer of customers) this.meters.invalidate(customer);
    });
    const live = options.alerts !== false;
    if (live || options.deliverAlerts) {
      const outbox =
        store instanceof SqliteEngineStore
          ? new AlertStore(store.db)
          : (this.pgAlerts ?? new MemoryAlertStore());
      this.alertState = outbox;
      if (options.deliverAlerts) {
        const delivery = new AlertDelivery(
          outbox,
          () => this.meters.state.policy.channels,
          options.deliverAlerts === true ? {} : options.deliverAlerts,
        );
        this.delivery = delivery;
        if (this.pgAlerts !== null) this.pgAlerts.onConfirmed = () => delivery.kick();
        // A firing goes out at once; the live evaluation that records it runs off the decision path.
        this.alertState = {
          state: (key) => outbox.state(key),
          record: (key, next, note, channels, now) => {
            outbox.record(key, next, note, channels, now);
            if (note !== null && channels.length > 0) delivery.kick();
          },
        };
      }
      if (live) this.d.alerts = this.liveAlerts(state);
    }
  }

  /** What live alert rules read of wallets and spend caps (off the decision path). */
  private liveFigures(): LiveFigures {
    return {
      wallet: (customer, now) => {
        const f = this.wallets.figures(customer, now);
        return f === null
          ? null
          : { balance: Number(fromAtoms(f.balance)), available: Number(fromAtoms(f.available)) };
      },
      slotCap: (slot, now) => this.d.caps.fullest(slot, now),
      customerCap: (customer, now) => {
        let best: { spend: number; percent: number | null } | null = null;
        for (const c of this.d.caps.usage(customer, now))
          if (best === null || (c.percent ?? -1) > (best.percent ?? -1))
            best = { spend: Number(c.spent), percent: c.percent };
        return best;
      },
    };
  }

  /** The live alert rules of a policy, or null when it has none worth watching live. */
  private liveAlerts(state: PolicyState): LiveAlerts | null {
    return this.alertState === null
      ? null
      : liveAlertsFor(state, this.plans.history, this.alertState, this.notifier, this.liveFigures());
  }

  /**
   * Open an engine. With a bundle store as `policy`, the current bundle is
   * loaded (or the persisted last good one) before this resolves, and polled
   * afterwards; the decision methods themselves are synchronous.
   *
   * @example
   * const limitr = await Limitr.open({ policy: "./policies", store: "memory", durability: "batched" });
   * const live = await Limitr.open({
   *   policy: { store: "https://cdn.example.com/limitr", env: "production", publicKeys: [pem] },
   *   store: "sqlite:/var/lib/app/usage.db",
   * });
   */
  static async open(options: LimitrOptions): Promise<Limitr> {
    const input = options.policy;
    if (!isBundleStoreInput(input)) {
      const active = await loadPolicyInput(input);
      const engine = await Limitr.create(options, active, null);
      await engine.shared?.connect();
      return engine;
    }
    // Loaded here, not with the engine: only a bundle store needs the loader (and the bundle validator).
    const loader = await BundleLoader.open(input, options.store ?? DEFAULT_STORE, clockOf(options));
    const { manifest, policy } = loader.bundle;
    const active = { policy, version: manifest.version, digest: manifest.digest, source: "store" as const };
    const engine = await Limitr.create(options, active, loader);
    await engine.shared?.connect();
    loader.start({
      activate: (bundle) => engine.activate(bundle.policy, bundle.manifest.version, bundle.manifest.digest),
      notify: (notice) => engine.notifier.emit("policy", notice),
    });
    return engine;
  }

  /**
   * The engine over its store: a `postgres://` store is connected, migrated
   * and read before the engine is built (the engine itself never waits on it).
   */
  private static async create(
    options: LimitrOptions,
    active: ActivePolicy,
    loader: BundleLoader | null,
  ): Promise<Limitr> {
    const store = options.store;
    const url = typeof store === "string" && isPostgresUrl(store) ? store : null;
    const where = url === null ? (typeof store === "object" ? store.location : "") : redactUrl(url);
    const background = url !== null || (typeof store === "object" && store.drain !== undefined);
    if (background && options.durability === "sync")
      throw new InputError(
        `durability "sync" commits before a call returns, which the store ${where} cannot do without waiting on the network: use "batched" (the default)`,
      );
    const shared =
      (url !== null && options.exclusive !== true) || (typeof store === "object" && store.shared === true);
    // Engines sharing a Postgres store without Redis lease their hard limits from its rows.
    const rowLeases = shared && options.counters === undefined && (url !== null || hasPgLocation(store));
    if (shared && options.tool !== true)
      requireSharedCounters(active.policy, where, options.counters !== undefined || rowLeases);
    if (options.counters !== undefined && !/^rediss?:\/\//.test(options.counters))
      refuseSharedSliding(active.policy, options.counters);
    if (rowLeases) refuseRowSliding(active.policy, where);
    const rowsAt = async (location: PgLocation) => {
      const { PgLeases } = await import("../adapters/store/postgres/pg-leases.js");
      return new PgLeases(location, { ...ROW_LEASE_DEFAULTS, ...options.lease });
    };
    const alertsAt = async (location: PgLocation) => {
      if (options.alerts === false && !options.deliverAlerts) return null;
      const { PgEngineAlerts } = await import("../adapters/store/postgres/engine-alerts.js");
      return PgEngineAlerts.open(location);
    };
    if (url === null) {
      const pg = hasPgLocation(store) ? store.pg : null;
      const rows = rowLeases && pg !== null ? await rowsAt(pg) : null;
      const alerts = pg !== null ? await alertsAt(pg) : null;
      try {
        return new Limitr(options, active, loader, { rows, alerts });
      } catch (err) {
        await rows?.close();
        alerts?.closeSync();
        throw err;
      }
    }
    const { PgEngineStore } = await import("../adapters/store/postgres/engine-store.js");
    const pgStore = await PgEngineStore.open(url, {
      planPollMs: options.planPollMs,
      maxBufferedEvents: options.maxBufferedEvents,
      exclusive: options.exclusive,
      recentIds: options.idempotencyWindow,
    });
    let rows: RowCounters | null = null;
    let alerts: PgEngineAlerts | null = null;
    try {
      rows = rowLeases ? await rowsAt(pgStore.pg) : null;
      alerts = await alertsAt(pgStore.pg);
      return new Limitr({ ...options, store: pgStore }, active, loader, { rows, alerts });
    } catch (err) {
      pgStore.close();
      await rows?.close();
      alerts?.closeSync();
      throw err;
    }
  }

  /**
   * Decide and count in one step; true when allowed. The hot path: no I/O
   * (except a full write-behind batch, or `durability: "sync"`), no awaits.
   *
   * @example
   * if (limitr.allow("acme", "chat_input", 1200, { id: requestId })) callModel();
   */
  allow(
    customer: string,
    entitlement: string,
    amount?: number | CallOptions | null,
    options?: CallOptions | null,
  ): boolean {
    const tick = this.d.tick;
    if (
      tick !== null &&
      (options == null ||
        (options.properties === undefined &&
          options.now === undefined &&
          (options.id == null || typeof options.id === "string")))
    ) {
      // The common call (no properties or time; a positive amount or none) on the tick clock: see Decider.quick.
      const units = amount === undefined ? 1 : amount;
      if (typeof units === "number" && units > 0 && units < Infinity) {
        const now = tick.now();
        const id = options == null || options.id == null ? undefined : options.id;
        if (this.d.quick(customer, entitlement, units, now, id)) return true;
        this.d.coarse = true;
        return this.d.evaluate(customer, entitlement, amount as number | undefined, now, options, true);
      }
    }
    if (typeof amount !== "number") return this.allowWith(customer, entitlement, amount, options);
    if (options != null && options.now !== undefined)
      return this.d.evaluate(customer, entitlement, amount, instantOf(options.now), options, true);
    if (tick === null) return this.d.evaluate(customer, entitlement, amount, this.clock(), options, true);
    this.d.coarse = true;
    return this.d.evaluate(customer, entitlement, amount, tick.now(), options, true);
  }

  /** `allow` without a numeric amount: 1, or the credits of the call's quantities (credit units); options may come third. */
  private allowWith(
    customer: string,
    entitlement: string,
    amount: unknown,
    options?: CallOptions | null,
  ): boolean {
    const o = callOptions(amount, options);
    const given = callAmount(amount, options);
    if (o != null && o.now !== undefined)
      return this.d.evaluate(customer, entitlement, given, instantOf(o.now), o, true);
    const tick = this.d.tick;
    if (tick === null) return this.d.evaluate(customer, entitlement, given, this.clock(), o, true);
    this.d.coarse = true;
    return this.d.evaluate(customer, entitlement, given, tick.now(), o, true);
  }

  /** Like `allow`, returning the full Decision (with the marginal `price`); counts when allowed. */
  decide(
    customer: string,
    entitlement: string,
    amount?: number | CallOptions | null,
    options?: CallOptions | null,
  ): Decision {
    const o = callOptions(amount, options);
    const now = o?.now === undefined ? this.clock() : instantOf(o.now);
    const allowed = this.d.evaluate(customer, entitlement, callAmount(amount, options), now, o, true);
    return this.d.decision(allowed, this.d.lastAmount, allowed && this.d.lastReason === "ok");
  }

  /**
   * `allow` that waits for allowance: when this engine's lease slice cannot
   * cover the call (`lease_pending`), it fetches more (one round trip to the
   * shared counters) and decides again, so a shared hard limit is used to the
   * last unit (R16). Without `counters` it is `allow`.
   *
   * @example
   * if (!(await limitr.allowAsync("acme", "gpu_seconds", 30))) return res.status(429).end();
   */
  async allowAsync(
    customer: string,
    entitlement: string,
    amount = 1,
    options?: CallOptions | null,
  ): Promise<boolean> {
    for (let round = 0; ; round++) {
      this.forgetWalletMiss();
      if (this.allow(customer, entitlement, amount, options)) return true;
      if (!(await this.waitForLease(round))) return false;
    }
  }

  /** `decide` that waits for allowance, like `allowAsync`. */
  async decideAsync(
    customer: string,
    entitlement: string,
    amount = 1,
    options?: CallOptions | null,
  ): Promise<Decision> {
    for (let round = 0; ; round++) {
      this.forgetWalletMiss();
      const decision = this.decide(customer, entitlement, amount, options);
      if (decision.allowed || !(await this.waitForLease(round))) return decision;
    }
  }

  /** A shared wallet's last miss belongs to the call that made it: `waitForLease` reads only this call's. */
  private forgetWalletMiss(): void {
    if (this.wallets instanceof SharedWallets) this.wallets.lastMiss = null;
  }

  /**
   * After a denial: whether a round trip for allowance may change the answer
   * (then it has been made). A `limit_exceeded` from a pool seen exhausted
   * recently is asked again once, so the answer is the pool's, not a cached one.
   */
  private async waitForLease(round: number): Promise<boolean> {
    const shared = this.shared;
    const reason = this.d.lastReason;
    const wallets = this.wallets;
    if (
      wallets instanceof SharedWallets &&
      round < 8 &&
      (reason === "lease_pending" || reason === "insufficient_balance") &&
      wallets.lastMiss !== null &&
      wallets.lastMiss === this.d.lastSlot?.customer &&
      this.d.lastSlot?.wallet != null
    ) {
      const customer = wallets.lastMiss;
      wallets.lastMiss = null;
      if (reason === "insufficient_balance") {
        // Decided from a pool seen short within the last tick: ask it once more.
        if (round > 0) return false;
        wallets.ask(customer, wallets.lastCost);
      }
      await wallets.settled(customer);
      return true;
    }
    if (shared === null || round >= 8 || (reason !== "lease_pending" && reason !== "limit_exceeded"))
      return false;
    const book = shared.book;
    const cid = book.lastMiss;
    const slot = this.d.lastSlot;
    if (
      cid < 0 ||
      slot === null ||
      !(slot.counter?.id === cid || slot.capCounters?.some((c) => c.id === cid))
    )
      return false;
    book.lastMiss = -1;
    if (reason === "limit_exceeded") {
      // Decided from the local counter (final), or from a pool already asked this round.
      if (round > 0 || book.busy[cid] !== 0 || book.denial !== "limit_exceeded") return false;
      book.want(cid, book.lastNeed);
    }
    await shared.settled(cid);
    return true;
  }

  /** What `decide` would answer, counting nothing and consuming no rate tokens. */
  check(
    customer: string,
    entitlement: string,
    amount?: number | CallOptions | null,
    options?: CallOptions | null,
  ): Decision {
    const o = callOptions(amount, options);
    const now = o?.now === undefined ? this.clock() : instantOf(o.now);
    const allowed = this.d.evaluate(customer, entitlement, callAmount(amount, options), now, o, false);
    return this.d.decision(allowed, this.d.lastAmount, false);
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
    checkEvent(event);
    const ts = this.instant(event.timestamp);
    return this.d.record(event, ts, this.clock(), this.idPrefix);
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
    options: { ttlMs?: number; now?: Instant } | null = {},
  ): Hold | null {
    const o = options ?? {};
    return this.holds.reserve(customer, entitlement, amount, o.ttlMs ?? 60_000, this.time(o.now));
  }

  /**
   * Free a hold and count the actual usage (R8): `actual` may exceed the limit
   * (the work was done) and is counted even when the hold expired. Settling a
   * hold twice counts once (the hold id is the event id).
   */
  settle(
    hold: Hold,
    actual: number,
    options: { now?: Instant; properties?: Record<string, PropertyValue> } | null = {},
  ): Decision {
    const o = options ?? {};
    return this.holds.settle(hold, actual, this.time(o.now), o.properties);
  }

  /** Free a hold without counting anything. Returns false when it was no longer active. */
  release(hold: Hold, options: { now?: Instant } | null = {}): boolean {
    return this.holds.release(hold, this.time(options?.now));
  }

  /** The current period's counter for a customer and entitlement (a read: a due reset is reported, not written). */
  usage(customer: string, entitlement: string, options: { now?: Instant } | null = {}): Usage {
    requireName("customer", customer);
    requireName("entitlement", entitlement);
    const now = this.time(options?.now);
    if (now - now !== 0) throw new InputError("usage(): now must be epoch milliseconds or a Date");
    return this.meters.usage(customer, entitlement, now);
  }

  /**
   * The customer's wallet (SPEC §12): balance, what calls can spend
   * (`available` = balance - minimum - reserved), and its lots in burn order.
   * Due grants and expiries are applied first (lazily, like period resets).
   *
   * @example
   * limitr.balance("acme") // { unit: "USD", balance: "42.5", available: "32.5", minimum: "10", reserved: "0", grants: [...] }
   */
  balance(customer: string, options: { now?: Instant } | null = {}): WalletBalance {
    requireName("customer", customer);
    const now = this.callTime("balance", options?.now);
    const out = this.wallets.balance(customer, now);
    this.persistence.changed(now);
    return out;
  }

  /**
   * Credit a customer's wallet (a purchase, invoiced by `bill`, R19).
   * Idempotent by `id`: a repeated id credits once and returns the first
   * transaction.
   *
   * @example
   * limitr.topUp("acme", "50.00", { id: "order-1234", expiresAt: "2027-12-31T00:00:00Z" })
   */
  topUp(
    customer: string,
    amount: string | number,
    options: {
      id?: string;
      expiresAt?: Instant | string;
      priority?: number;
      note?: string;
      now?: Instant;
    } | null = {},
  ): WalletTransaction & { duplicate: boolean } {
    requireName("customer", customer);
    const o = options ?? {};
    const now = this.callTime("topUp", o.now);
    const r = this.wallets.topUp(
      customer,
      Wallets.amount("topUp amount", amount),
      {
        id: o.id ?? `topup-${this.idPrefix}${(this.d.seq++).toString(36)}`,
        expiresAt: o.expiresAt === undefined ? Infinity : this.instant(o.expiresAt),
        priority: o.priority ?? 0,
        note: o.note ?? null,
      },
      now,
      this.store,
    );
    this.persistence.changed(now);
    return { ...r.transaction, duplicate: r.duplicate };
  }

  /** An operator's correction of a wallet (positive or negative, with a note); idempotent by `id`. */
  adjust(
    customer: string,
    amount: string | number,
    options: { note: string; id?: string; now?: Instant },
  ): WalletTransaction & { duplicate: boolean } {
    requireName("customer", customer);
    if (typeof options?.note !== "string" || options.note === "")
      throw new InputError("adjust(): a note saying why is required");
    const now = this.callTime("adjust", options.now);
    const id = options.id ?? `adjust-${this.idPrefix}${(this.d.seq++).toString(36)}`;
    const r = this.wallets.adjust(
      customer,
      Wallets.amount("adjustment", amount),
      { id, note: options.note },
      now,
      this.store,
    );
    this.persistence.changed(now);
    return { ...r.transaction, duplicate: r.duplicate };
  }

  /** The wallet ledger of a customer, oldest first, with `from <= at < to` (default: all). */
  transactions(
    customer: string,
    options: { from?: Instant | string; to?: Instant | string; now?: Instant } | null = {},
  ): WalletTransaction[] {
    requireName("customer", customer);
    const o = options ?? {};
    const now = this.callTime("transactions", o.now);
    // Grants and expiries due by now are part of the history.
    this.wallets.account(customer, now);
    const from = o.from === undefined ? -Infinity : this.instant(o.from);
    const to = o.to === undefined ? Infinity : this.instant(o.to);
    return this.wallets.transactions(customer, from, to, this.store);
  }

  private callTime(what: string, at: Instant | undefined): number {
    const now = this.time(at);
    if (now - now !== 0) throw new InputError(`${what}(): now must be epoch milliseconds or a Date`);
    return now;
  }

  /**
   * The customer's spend caps (R18) in the current period: amount, spent and
   * remaining as decimal strings (a read: a due reset is reported, not written).
   *
   * @example
   * for (const c of limitr.caps("acme")) if (c.percent !== null && c.percent >= 80) warn(c.cap);
   */
  caps(customer: string, options: { now?: Instant } | null = {}): CapUsage[] {
    requireName("customer", customer);
    const now = this.time(options?.now);
    if (now - now !== 0) throw new InputError("caps(): now must be epoch milliseconds or a Date");
    return this.d.caps.usage(customer, now);
  }

  /**
   * Put a self-serve customer on `plan` from `at` (default now) on, recorded
   * in the plan history for proration. A policy contract naming a plan wins.
   * `addOns` is the whole set of add-on plans held from `at` on (SPEC §15:
   * their entitlements stack on the plan's); without it the customer keeps
   * the add-ons held at `at`. `addOns: []` removes them all.
   *
   * @example
   * limitr.setPlan("acme", "pro", { addOns: ["extra-tokens"] });
   */
  setPlan(
    customer: string,
    plan: string,
    options: { at?: Instant | string; addOns?: readonly string[] } | null = {},
  ): void {
    requireName("customer", customer);
    requireName("plan", plan);
    const plans = this.meters.state.policy.plans;
    const known = () => Object.keys(plans).join(", ");
    if (!Object.hasOwn(plans, plan)) {
      throw new InputError(`unknown plan "${plan}" for ${customer}; plans in the active policy: ${known()}`);
    }
    if (plans[plan]?.addOn) {
      throw new InputError(
        `plan "${plan}" is an add-on: hold it with setPlan(customer, basePlan, { addOns })`,
      );
    }
    const given = options?.addOns;
    if (given !== undefined && !Array.isArray(given))
      throw new InputError("setPlan(): addOns must be an array of add-on plan ids");
    for (const id of given ?? []) {
      requireName("add-on", id);
      if (!Object.hasOwn(plans, id)) {
        throw new InputError(
          `unknown add-on "${id}" for ${customer}; plans in the active policy: ${known()}`,
        );
      }
      if (!plans[id]?.addOn) {
        throw new InputError(
          `plan "${id}" is not an add-on (mark it \`add_on: true\` to hold it beside a plan)`,
        );
      }
    }
    const now = this.clock();
    const at = options?.at === undefined ? now : this.instant(options.at);
    const addOns = addOnSet(given ?? this.plans.addOnsAt(customer, at));
    this.plans.insert(customer, at, plan, addOns);
    this.wb.subscriptions.push({
      customer,
      effectiveAt: at,
      plan,
      ...(addOns.length > 0 ? { addOns } : {}),
      recordedAt: now,
    });
    this.meters.invalidate(customer);
    this.persistence.changed(now);
  }

  /**
   * Listen to engine events; returns a function that removes the handler.
   * Handlers run synchronously after the decision is applied; an exception in
   * one is kept in `status().lastError` and never changes the decision.
   */
  on<K extends EngineEventName>(name: K, handler: (event: EngineEvents[K]) => void): () => void {
    return this.notifier.on(name, handler);
  }

  /**
   * The policy decisions are made under right now, with its bundle version
   * and digest (it changes when a polled bundle is activated). Read-only: the
   * engine shares it with every decision.
   */
  activePolicy(): { policy: CompiledPolicy; version: number; digest: string } {
    const state = this.meters.state;
    return { policy: state.policy, version: state.version, digest: state.digest };
  }

  status(): EngineStatus {
    const listenerError = this.notifier.lastError;
    const state = this.meters.state;
    const loaded = this.loader?.status() ?? null;
    const policyError = loaded?.lastError ?? null;
    const fence = this.fence;
    const storeHealth = this.store.health?.() ?? null;
    return {
      activeVersion: state.version,
      activeDigest: state.digest,
      source: loaded?.source ?? this.source,
      lastCheckAt: loaded?.lastCheckAt ?? null,
      lastSuccessAt: loaded?.lastSuccessAt ?? null,
      policyError,
      store: this.persistence.store.location,
      durability: this.durability,
      pendingEvents: this.persistence.pendingEvents + (storeHealth?.bufferedEvents ?? 0),
      lastFlushAt: this.persistence.lastFlushAt,
      storeHealth,
      storeLease: this.store.lease === undefined ? null : fence.lost ? "lost" : "held",
      alertDelivery: this.delivery?.status() ?? null,
      counters: this.shared?.status() ?? null,
      lastError:
        fence.problem(this.store.location) ??
        this.persistence.lastError ??
        storeHealth?.lastError ??
        policyError ??
        (listenerError ? String(listenerError) : null) ??
        this.shared?.status().lastError ??
        this.pgAlerts?.lastError ??
        (this.wallets instanceof SharedWallets ? this.wallets.lastError : null) ??
        null,
    };
  }

  /** Write everything buffered in one transaction. Rejects when the store refuses the batch (it stays buffered). */
  async flush(): Promise<void> {
    const now = this.clock();
    this.d.alerts?.evaluate();
    await this.shared?.flush();
    if (this.wallets instanceof SharedWallets) await this.wallets.flush();
    this.persistence.flush(now);
    await this.store.drain?.(this.drainMs);
    await this.pgAlerts?.drain(this.drainMs);
  }

  /** Stop polling bundles, flush, then release the store and its owner lock. Idempotent; also done at process exit. */
  async close(): Promise<void> {
    this.fence.stop();
    await this.loader?.stop();
    this.plans.stop();
    this.stopAlerts();
    await this.delivery?.stop();
    await this.pgAlerts?.close(this.drainMs).catch(() => {});
    await this.shared?.close();
    if (this.wallets instanceof SharedWallets) await this.wallets.close();
    if (this.store.drain !== undefined) {
      // Hand the last batch to the background writer and wait for it; the store is released either way.
      try {
        this.persistence.flush(this.clock());
        await this.store.drain(this.drainMs);
      } catch (err) {
        this.persistence.close();
        throw err;
      }
    }
    this.persistence.close();
  }

  /** `close` for synchronous contexts (tests' teardown, exit handlers of the host). */
  closeSync(): void {
    this.fence.stop();
    this.loader?.stopSync();
    this.plans.stop();
    this.stopAlerts();
    this.delivery?.stopTimer();
    this.pgAlerts?.closeSync();
    this.shared?.closeSync();
    if (this.wallets instanceof SharedWallets) this.wallets.closeSync();
    this.persistence.close();
  }

  /** Evaluate what is pending, then stop the alert timer (before the store closes: state lives there). */
  private stopAlerts(): void {
    const alerts = this.d.alerts;
    if (alerts === null) return;
    alerts.evaluate();
    alerts.stop();
  }

  /**
   * Make a verified bundle's policy the active one. The new state (resolver,
   * empty slot cache, identity) is built first, then swapped in with one
   * assignment; buffered events keep the identity they were decided under.
   * Runs from the loader's poll callback, never inside a decision.
   */
  private activate(policy: PolicyState["policy"], version: number, digest: string): void {
    const previous = this.meters.state;
    const next = new PolicyState(policy, version, digest, this.notifier, (c) => this.plans.currencies.get(c));
    // Counter changes made under the old policy are judged by its rules before they go.
    this.d.alerts?.evaluate();
    this.d.alerts?.stop();
    this.persistence.rebrand(version, digest);
    this.meters.state = next;
    this.d.alerts = this.liveAlerts(next);
    try {
      this.store.recordActivation({
        at: this.clock(),
        version,
        digest,
        source: "store",
        previousVersion: previous.version,
      });
    } catch {
      // The audit row is best effort: a store hiccup must not undo an activation that already happened.
    }
  }

  /** A call's `now`: the clock when absent, NaN when unreadable (the call refuses it). */
  private time(now: Instant | undefined): number {
    return now === undefined ? this.clock() : instantOf(now);
  }

  /**
   * The store lease was taken back after another engine held it: its
   * counters, holds, plans and recent ids are the truth now. Changes queued
   * before the loss are dropped (the other engine replaced that view).
   */
  private reload(): void {
    this.wb.forgetState();
    const { counters, holds } = restoreFrom(this.store, this.plans, this.seen);
    this.wallets.reload(this.store);
    this.meters.reload(counters, holds);
    for (const h of holds) this.holds.loaded.add(h.id);
  }

  private instant(value: string | number | Date | undefined): number {
    if (value === undefined) return this.clock();
    const ms =
      value instanceof Date
        ? value.getTime()
        : typeof value === "string" || typeof value === "number"
          ? parseInstant(value, this.meters.state.zone)
          : null;
    if (ms === null || Number.isNaN(ms))
      if (ms === null)
        throw new InputError(`invalid timestamp ${String(value)} (ISO-8601 or epoch milliseconds)`);
    return ms;
  }
}

/** Options given in place of the amount (`decide(c, e, { properties })`), when no options follow it. */
function optionsInPlace(amount: unknown, options: unknown): boolean {
  return options === undefined && amount !== null && typeof amount === "object" && !Array.isArray(amount);
}

function callOptions(
  amount: unknown,
  options: CallOptions | null | undefined,
): CallOptions | null | undefined {
  return optionsInPlace(amount, options) ? (amount as CallOptions) : options;
}

/** The amount of a call: as given; none (or options in its place) lets the engine work it out. */
function callAmount(amount: unknown, options: unknown): number | undefined {
  if (amount === undefined || optionsInPlace(amount, options)) return undefined;
  // Anything else goes to the decision as is: a bad amount is refused there (invalid_amount).
  return amount as number;
}

/**
 * Engines sharing one Postgres store (not `exclusive`): hard limits need the
 * shared counters, or each engine would allow a limit in full (R16); spend
 * caps and wallets are not shared through them yet, so they need an
 * `exclusive` engine. Refused at open, naming the first one found.
 */
/**
 * Counters shared through Redis lease a sliding window bucket by bucket
 * (docs/scale.md); any other lease source leases a period's allowance, and a
 * sliding window has no period to lease: a hard limit on one is refused there
 * rather than counted as a limit that never frees up.
 */
function refuseSharedSliding(policy: CompiledPolicy, counters: string): void {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(counters)?.[0] ?? counters;
  for (const plan of Object.values(policy.plans))
    for (const e of Object.values(plan.entitlements))
      if (e.kind === "metered" && e.mode === "hard" && e.limit !== null && isSliding(e.period))
        throw new InputError(
          `the hard limit ${plan.id}.${e.id} has a sliding window, which only counters shared through Redis support ` +
            `(counters: "redis://HOST:6379/0"), not ${JSON.stringify(scheme)}: use Redis counters, a calendar or interval period, or one engine without counters`,
        );
}

/** The store object given is a Postgres engine store (its rows can hold leases). */
function hasPgLocation(store: LimitrOptions["store"]): store is EngineStore & { pg: PgLocation } {
  return typeof store === "object" && store !== null && "pg" in store && typeof store.pg === "object";
}

/** Leases from the store's rows are leases of a period, like Redis ones: no sliding windows yet. */
function refuseRowSliding(policy: CompiledPolicy, where: string): void {
  for (const plan of Object.values(policy.plans))
    for (const e of Object.values(plan.entitlements))
      if (e.kind === "metered" && e.mode === "hard" && e.limit !== null && isSliding(e.period))
        throw new InputError(
          `the hard limit ${plan.id}.${e.id} has a sliding window, which engines sharing ${where} cannot lease from its rows yet: ` +
            "use a calendar or interval period for it, or open the only engine on it with exclusive: true",
        );
}

function requireSharedCounters(policy: CompiledPolicy, where: string, counters: boolean): void {
  const found = limitNeedingLeases(policy, counters);
  if (found === null) return;
  const only = "or open the only engine on it with exclusive: true (limitr serve --exclusive)";
  throw new InputError(
    found.kind === "limit"
      ? `${found.what} needs counters shared by every engine on ${where}: add counters: "redis://HOST:6379/0" ` +
          `(limitr serve: --counters redis://...), ${only}. Without either, engines on one store could each allow the whole limit.`
      : `${found.what} is kept by each engine, not shared across engines on ${where}: ${only.slice(3)}.`,
  );
}

/**
 * What a policy needs leased across engines that it cannot have: hard limits
 * and spend caps without `counters`, and spend caps too large for a lease
 * pool (pools count nanos in doubles: exact below 2^53). Wallets are leased
 * from the Postgres store itself.
 */
function limitNeedingLeases(
  policy: CompiledPolicy,
  counters: boolean,
): { kind: "limit" | "local"; what: string } | null {
  const big = (caps: Record<string, CompiledCap> | undefined) =>
    Object.values(caps ?? {}).find((cap) => cap.mode === "hard" && capNanos(cap) > Number.MAX_SAFE_INTEGER);
  for (const plan of Object.values(policy.plans)) {
    if (!counters)
      for (const e of Object.values(plan.entitlements))
        if (e.kind === "metered" && e.mode === "hard" && e.limit !== null)
          return { kind: "limit", what: `the hard limit ${plan.id}.${e.id}` };
    if (!counters && plan.caps !== undefined && Object.keys(plan.caps).length > 0)
      return { kind: "limit", what: `the spend caps of plan ${plan.id}` };
    const cap = big(plan.caps);
    if (cap !== undefined)
      return {
        kind: "local",
        what: `the spend cap ${plan.id}.${cap.id} (above 9,007,199 a period, too large to lease exactly)`,
      };
  }
  for (const c of Object.values(policy.customers)) {
    if (!counters)
      for (const [id, o] of Object.entries(c.overrides))
        if (o.mode === "hard") return { kind: "limit", what: `the hard limit ${id} of customer ${c.id}` };
    if (!counters && c.caps !== undefined && Object.keys(c.caps).length > 0)
      return { kind: "limit", what: `the spend caps of customer ${c.id}` };
    const cap = big(c.caps);
    if (cap !== undefined)
      return {
        kind: "local",
        what: `the spend cap ${cap.id} of customer ${c.id} (above 9,007,199 a period, too large to lease exactly)`,
      };
  }
  return null;
}

/** The location of a Postgres store shared with other engines (wallets are then leased from it). */
function sharedPgLocation(store: EngineStore): PgLocation | null {
  const s = store as EngineStore & { shared?: boolean; pg?: PgLocation };
  return s.shared === true && s.pg !== undefined ? s.pg : null;
}
