import type Database from "better-sqlite3";
import { ratingMeters } from "../../core/credits/rating.js";
import type { CompiledMeter, CompiledPolicy } from "../../core/model.js";
import { calendarWindow, LIFETIME, type Window } from "../../core/periods.js";
import {
  definitionFingerprint,
  type RollupDefinition,
  rollable,
  rollupDefinition,
} from "../../core/usage/rollup-key.js";
import type {
  AggregateRow,
  AggregateSpec,
  DailyUsage,
  FirstEvents,
  Lead,
} from "../../core/usage/store-port.js";
import {
  firstEventsPerDay,
  firstEventsWanted,
  leadBefore,
  leadValue,
  MAX_FIRST_EVENTS,
} from "./bill-first-events.js";

export { firstEventsWanted, MAX_FIRST_EVENTS };

import { carriedReadings } from "./bill-time-weighted.js";
import {
  type DailyData,
  type DayCell,
  dayStarts,
  fold,
  foldExprs,
  literal,
  scanDays,
  slotColumns,
  usageFrom,
} from "./bill-usage.js";
import type { Db } from "./database.js";
import { bucketOf } from "./usage-store.js";

/**
 * Usage rollups in the SQLite store: per meter definition (its fingerprint,
 * see `rollup-key.ts`), customer, calendar day of the definition's zone and
 * cost dimension, the day's quantity, event count and the time/seq of its
 * latest numeric event; for unique_count the day's distinct values (exact,
 * no sketch) with their event counts.
 *
 * A definition's `through_seq` says which events it holds: exactly those with
 * seq <= through_seq (seq grows with every insert, duplicates never get one,
 * so each event is counted once however often it is re-imported). Writers
 * fold their new rows in the same transaction (`RollupMaintainer`); a
 * definition a writer did not know about lags behind and is caught up by the
 * next reader (`catchUp`), and readers fold any remaining tail in memory, so a
 * rollup read always equals a scan of the events at the same moment.
 *
 * A definition with `first_n` > 0 also keeps, per (day, customer), the day's
 * first `first_n` events by (ts, id) with their values (`rollup_firsts`):
 * what percentage `free_events` rates (see bill-first-events.ts). A late event
 * earlier than the kept ones displaces the last of them; duplicates have no
 * seq, so they are never folded. A bill asking for more first events than a
 * definition keeps raises its `first_n` and rebuilds it (`ensureRollups`).
 */

export interface RollupDef {
  fp: string;
  def: RollupDefinition;
  through: number;
  /** First events kept per (day, customer); 0 = none. */
  firstN: number;
}

/** A cell being folded: a day cell of one (day, customer, dimension); unique_count also counts each value's events. */
interface RollCell extends DayCell {
  s: number;
  counts: Map<string, number> | null;
}

/** fp -> "day\0customer\0dim" -> cell. */
type Folded = Map<string, Map<string, RollCell>>;

/** fp -> "day\0customer" -> the first events folded so far, by (ts, id), at most the definition's first_n. */
type FoldedFirsts = Map<string, Map<string, Lead[]>>;

const SEP = "\u0000";

/** Events folded per catch-up transaction: bounds memory and how long a build holds the write lock. */
const CATCH_UP_CHUNK = Number(process.env.LIMITR_ROLLUP_CHUNK ?? 500_000);

/** Insert `e` into `list` (sorted by (ts, id)) when it is among the first `n`; keep at most `n`. */
function keepFirst(list: Lead[], e: Lead, n: number): void {
  if (list.length >= n && !leadBefore(e, list[list.length - 1] as Lead)) return;
  let i = list.length;
  while (i > 0 && leadBefore(e, list[i - 1] as Lead)) i--;
  list.splice(i, 0, e);
  if (list.length > n) list.pop();
}

function newCell(def: RollupDefinition): RollCell {
  const unique = def.aggregation === "unique_count";
  return {
    q: 0,
    n: 0,
    t: -Infinity,
    s: 0,
    byDim: new Map(),
    values: unique ? new Set() : null,
    readings: null,
    counts: unique ? new Map() : null,
  };
}

function dimKey(v: unknown): string {
  return v === null || v === undefined ? "" : String(v);
}

/**
 * A prepared single pass over events folding them into the cells of a fixed
 * set of definitions (one aggregate function, slot columns as in bills).
 */
class Folder {
  private readonly types: (string | number)[];
  private readonly stmt: Database.Statement;
  private readonly ranged: Database.Statement;
  /** Per definition (in `defs` order) during a run: its floor, its cells, and them by customer[+dim] then day. */
  private readonly state: {
    floor: number;
    cells: Map<string, RollCell>;
    byOwner: Map<string, Map<number, RollCell>>;
    firsts: Map<string, Lead[]>;
    firstsOf: Map<string, Map<number, Lead[]>>;
  }[];
  /** An empty run state. */
  private readonly fresh: () => Folder["state"][number];

  constructor(
    db: Db,
    private readonly defs: RollupDef[],
    name: string,
  ) {
    interface Entry {
      k: number;
      def: RollupDefinition;
      where: number;
      dim: number;
      val: number;
      firstN: number;
    }
    const plans = new Map<string, { entries: Entry[]; exprs: string[] }>();
    const fresh = () => ({
      floor: 0,
      cells: new Map(),
      byOwner: new Map(),
      firsts: new Map(),
      firstsOf: new Map(),
    });
    this.state = defs.map(fresh);
    this.fresh = fresh;
    // The event id is read only when some definition keeps first events (it orders ties of ts).
    const withId = defs.some((d) => d.firstN > 0);
    const off = withId ? 1 : 0;
    for (const [k, { def, firstN }] of defs.entries()) {
      const e = foldExprs(def.where, def.aggregation, def.property, def.dim);
      for (const type of def.events) {
        let plan = plans.get(type);
        if (!plan) plans.set(type, (plan = { entries: [], exprs: [] }));
        const p = plan;
        const slot = (expr: string | null): number => {
          if (expr === null) return -1;
          const i = p.exprs.indexOf(expr);
          return i >= 0 ? i : p.exprs.push(expr) - 1;
        };
        p.entries.push({ k, def, where: slot(e.where), dim: slot(e.dim), val: slot(e.val), firstN });
      }
    }
    // The day window last seen per zone: rows mostly come in time order.
    const lastDay = new Map<string, Window>();
    const dayOf = (zone: string, ts: number): number => {
      const w = lastDay.get(zone);
      if (w && ts >= w.start && ts < w.end) return w.start;
      const d = calendarWindow("day", ts, zone);
      lastDay.set(zone, d);
      return d.start;
    };
    const step = (
      count: number,
      seq: number,
      customer: string,
      ts: number,
      type: string,
      ...slot: unknown[]
    ): number => {
      const plan = plans.get(type);
      if (!plan) return count;
      for (const m of plan.entries) {
        const st = this.state[m.k] as (typeof this.state)[number];
        if (seq <= st.floor) continue;
        if (m.where >= 0 && !slot[off + m.where]) continue;
        const dim = m.dim >= 0 ? slot[off + m.dim] : null;
        const raw = m.val >= 0 ? slot[off + m.val] : 1;
        // Cells by owner then day number: no key string per event.
        const dimPart = m.def.dim === null ? "" : dimKey(dim);
        const owner = m.def.dim === null ? customer : `${customer}${SEP}${dimPart}`;
        let byDay = st.byOwner.get(owner);
        if (!byDay) st.byOwner.set(owner, (byDay = new Map()));
        const day = dayOf(m.def.zone, ts);
        let cell = byDay.get(day);
        if (!cell) {
          const key = `${day}${SEP}${customer}${SEP}${dimPart}`;
          cell = st.cells.get(key);
          if (!cell) st.cells.set(key, (cell = newCell(m.def)));
          byDay.set(day, cell);
        }
        fold(m.def.aggregation, cell, ts, seq, dim, raw);
        if (cell.counts && raw !== null && raw !== undefined) {
          const v = String(raw);
          cell.counts.set(v, (cell.counts.get(v) ?? 0) + 1);
        }
        if (m.firstN > 0) {
          let firstsByDay = st.firstsOf.get(customer);
          if (!firstsByDay) st.firstsOf.set(customer, (firstsByDay = new Map()));
          let list = firstsByDay.get(day);
          if (!list) {
            const key = `${day}${SEP}${customer}`;
            list = st.firsts.get(key);
            if (!list) st.firsts.set(key, (list = []));
            firstsByDay.set(day, list);
          }
          keepFirst(list, { ts, id: String(slot[0]), v: leadValue(raw) }, m.firstN);
        }
      }
      return count + 1;
    };
    db.aggregate(name, {
      varargs: true,
      start: 0,
      step: step as unknown as (total: number, next: unknown) => number,
    });
    this.types = [...plans.keys()];
    // NOT INDEXED: a range of seq (the rowid) is read directly; the (type, ts) index would visit every row of the types.
    const columns = ["seq", "customer", "ts", "type", ...(withId ? ["id"] : []), ...slotColumns(plans)].join(
      ", ",
    );
    const types = this.types.map((t) => literal(String(t))).join(", ");
    this.stmt = db
      .prepare(
        `SELECT ${name}(${columns}) FROM events NOT INDEXED WHERE seq > ? AND seq <= ? AND type IN (${types})`,
      )
      .pluck();
    this.ranged = db
      .prepare(
        `SELECT ${name}(${columns}) FROM events NOT INDEXED WHERE seq > ? AND seq <= ? AND type IN (${types}) AND ts >= ? AND ts < ?`,
      )
      .pluck();
  }

  /**
   * Fold events with seq in (after, upTo] (and ts in `window`), each only
   * into the definitions whose cells do not hold it yet (`floor`: fp -> through);
   * first events of definitions that keep them into `firsts`.
   */
  run(
    after: number,
    upTo: number,
    floor: Map<string, number>,
    into: Folded,
    firsts: FoldedFirsts,
    window?: Window,
  ): Folded {
    if (this.types.length === 0 || upTo <= after) return into;
    this.defs.forEach((d, k) => {
      let cells = into.get(d.fp);
      if (!cells) into.set(d.fp, (cells = new Map()));
      let leads = firsts.get(d.fp);
      if (!leads && d.firstN > 0) firsts.set(d.fp, (leads = new Map()));
      this.state[k] = {
        ...this.fresh(),
        floor: floor.get(d.fp) ?? 0,
        cells,
        firsts: leads ?? new Map(),
      };
    });
    try {
      if (window) this.ranged.get(after, upTo, window.start, window.end);
      else this.stmt.get(after, upTo);
    } finally {
      this.state.forEach((_, k) => {
        this.state[k] = this.fresh();
      });
    }
    return into;
  }

  get fps(): string[] {
    return this.defs.map((d) => d.fp);
  }
}

let folderSeq = 0;

/** Per connection: folders by definition set, statements, parsed definitions. */
class RollupSql {
  private readonly folders = new Map<string, Folder>();
  private readonly parsed = new Map<string, RollupDefinition>();
  readonly maxSeq: Database.Statement;
  /** The newest event seq (0 for none), or -1 when no definition is registered. */
  readonly mark: Database.Statement;
  readonly defs: Database.Statement;
  readonly setThrough: Database.Statement;
  readonly upsert: Record<RollupDefinition["aggregation"], Database.Statement>;
  readonly value: Database.Statement;
  /** The stored k-th first event of a (fp, day, customer) (k from 0), if it keeps that many. */
  readonly kth: Database.Statement;
  readonly putFirst: Database.Statement;
  /** Drop the stored first events of a (fp, day, customer) after its k-th. */
  readonly trimFirsts: Database.Statement;

  constructor(private readonly db: Db) {
    this.maxSeq = db.prepare("SELECT MAX(seq) FROM events").pluck();
    this.mark = db
      .prepare(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM rollup_defs) THEN coalesce((SELECT MAX(seq) FROM events), 0) ELSE -1 END",
      )
      .pluck();
    this.defs = db.prepare(
      "SELECT fp, definition, through_seq AS through, first_n AS firstN FROM rollup_defs ORDER BY fp",
    );
    this.setThrough = db.prepare("UPDATE rollup_defs SET through_seq = ?, built_at = ? WHERE fp = ?");
    const head =
      "INSERT INTO rollups (fp, day, customer, dim, q, f, n, t, s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fp, day, customer, dim) DO UPDATE SET n = n + excluded.n, ";
    const t =
      "t = CASE WHEN excluded.t IS NULL OR (t IS NOT NULL AND t >= excluded.t) THEN t ELSE excluded.t END";
    const later =
      "excluded.t IS NOT NULL AND (t IS NULL OR excluded.t > t OR (excluded.t = t AND excluded.s > s))";
    const sum = db.prepare(`${head}q = q + excluded.q, f = f + excluded.f, ${t}`);
    this.upsert = {
      sum,
      count: sum,
      max: db.prepare(
        `${head}q = CASE WHEN excluded.t IS NULL THEN q WHEN t IS NULL OR excluded.q > q THEN excluded.q ELSE q END, ${t}`,
      ),
      latest: db.prepare(
        `${head}q = CASE WHEN ${later} THEN excluded.q ELSE q END, s = CASE WHEN ${later} THEN excluded.s ELSE s END, ${t}`,
      ),
      unique_count: db.prepare(`${head}${t}`),
    };
    this.value = db.prepare(
      "INSERT INTO rollup_values (fp, day, customer, value, n) VALUES (?, ?, ?, ?, ?) ON CONFLICT (fp, day, customer, value) DO UPDATE SET n = n + excluded.n",
    );
    const first = "FROM rollup_firsts WHERE fp = @fp AND day = @day AND customer = @customer";
    this.kth = db.prepare(`SELECT ts, id ${first} ORDER BY ts, id LIMIT 1 OFFSET @k`);
    this.putFirst = db.prepare(
      "INSERT OR IGNORE INTO rollup_firsts (fp, day, customer, ts, id, v) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.trimFirsts = db.prepare(
      `DELETE ${first} AND (ts, id) > (SELECT ts, id ${first} ORDER BY ts, id LIMIT 1 OFFSET @k)`,
    );
  }

  list(): RollupDef[] {
    const rows = this.defs.all() as { fp: string; definition: string; through: number; firstN: number }[];
    return rows.map((r) => {
      let def = this.parsed.get(r.fp);
      if (!def) this.parsed.set(r.fp, (def = JSON.parse(r.definition) as RollupDefinition));
      return { fp: r.fp, def, through: r.through, firstN: r.firstN };
    });
  }

  folder(defs: RollupDef[]): Folder {
    const key = defs.map((d) => `${d.fp}:${d.firstN}`).join(",");
    let f = this.folders.get(key);
    if (!f) {
      f = new Folder(this.db, defs, `limitr_rollup_${++folderSeq}`);
      this.folders.set(key, f);
    }
    return f;
  }

  /** Add folded cells (and first events) to the stored rollups. */
  persist(defs: RollupDef[], folded: Folded, firsts: FoldedFirsts): void {
    for (const { fp, firstN } of defs) {
      const leads = firsts.get(fp);
      if (!leads || firstN <= 0) continue;
      for (const [key, list] of leads) {
        const [dayText, customer] = key.split(SEP) as [string, string];
        const at = { fp, day: Number(dayText), customer, k: firstN - 1 };
        // Stored and full: only events before its last kept one can enter.
        const bound = this.kth.get(at) as Lead | undefined;
        let added = false;
        for (const e of list) {
          if (bound && !leadBefore(e, bound)) break;
          this.putFirst.run(fp, at.day, customer, e.ts, e.id, e.v);
          added = true;
        }
        if (added) this.trimFirsts.run(at);
      }
    }
    for (const { fp, def } of defs) {
      const cells = folded.get(fp);
      if (!cells) continue;
      const up = this.upsert[def.aggregation];
      for (const [key, c] of cells) {
        const [day, customer, dim] = key.split(SEP) as [string, string, string];
        const t = c.t === -Infinity ? null : c.t;
        up.run(fp, Number(day), customer, dim, c.values ? null : c.q, c.f ?? 0, c.n, t, c.s);
        if (c.counts) for (const [v, n] of c.counts) this.value.run(fp, Number(day), customer, v, n);
      }
    }
  }
}

const sqlOf = new WeakMap<Db, RollupSql>();

function rollupSql(db: Db): RollupSql {
  let s = sqlOf.get(db);
  if (!s) sqlOf.set(db, (s = new RollupSql(db)));
  return s;
}

/**
 * Keeps a connection's registered rollups up to date as it inserts events:
 * call `before()` then, after the inserts and inside the same transaction,
 * `after(before)`. Only rows that were actually inserted have a seq above
 * `before`; definitions that lag behind are left to `catchUp`. A store with
 * no registered definition pays one statement per batch (`before()` says so
 * with -1, and `after` returns at once): a synchronous engine writes a batch
 * per call.
 */
export class RollupMaintainer {
  private readonly sql: RollupSql;
  private readonly now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.sql = rollupSql(db);
    this.now = now;
  }

  before(): number {
    return this.sql.mark.get() as number;
  }

  after(before: number): void {
    if (before < 0) return;
    const upTo = (this.sql.maxSeq.get() as number | null) ?? 0;
    if (upTo <= before) return;
    const defs = this.sql.list().filter((d) => d.through === before);
    if (defs.length === 0) return;
    const floor = new Map(defs.map((d) => [d.fp, d.through]));
    const firsts: FoldedFirsts = new Map();
    this.sql.persist(defs, this.sql.folder(defs).run(before, upTo, floor, new Map(), firsts), firsts);
    const at = this.now();
    for (const d of defs) this.sql.setThrough.run(upTo, at, d.fp);
  }
}

/** The definitions of meters (time_weighted meters have none), by meter id. */
export function definitionsOf(meters: CompiledMeter[], zone: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of meters) if (rollable(m)) out.set(m.id, definitionFingerprint(rollupDefinition(m, zone)));
  return out;
}

/**
 * Register rollups for meters (built by `catchUp`); returns the fingerprints.
 * `firstN`: meter id -> first events to keep per day; a registered
 * definition keeping fewer is emptied to be rebuilt keeping that many.
 */
export function registerRollups(
  db: Db,
  meters: CompiledMeter[],
  zone: string,
  firstN: ReadonlyMap<string, number> = new Map(),
): string[] {
  const put = db.prepare(
    "INSERT OR IGNORE INTO rollup_defs (fp, definition, zone, through_seq, created_at, first_n) VALUES (?, ?, ?, 0, ?, ?)",
  );
  const known = new Map(listRollups(db).map((d) => [d.fp, d.firstN]));
  const fresh = new Map<string, { def: RollupDefinition; n: number }>();
  for (const m of meters) {
    if (!rollable(m)) continue;
    const def = rollupDefinition(m, zone);
    const fp = definitionFingerprint(def);
    const n = Math.min(firstN.get(m.id) ?? 0, MAX_FIRST_EVENTS);
    fresh.set(fp, { def, n: Math.max(n, fresh.get(fp)?.n ?? 0) });
  }
  const missing = [...fresh].filter(([fp]) => !known.has(fp));
  const deeper = [...fresh].filter(([fp, { n }]) => known.has(fp) && n > (known.get(fp) ?? 0));
  if (missing.length > 0 || deeper.length > 0)
    db.transaction(() => {
      for (const [fp, { def, n }] of missing) put.run(fp, JSON.stringify(def), zone, Date.now(), n);
      const deepen = db.prepare(
        "UPDATE rollup_defs SET first_n = ?, through_seq = 0, built_at = NULL WHERE fp = ? AND first_n < ?",
      );
      for (const [fp, { n }] of deeper) {
        // Another process may have deepened it meanwhile: never lower first_n.
        if (deepen.run(n, fp, n).changes === 0) continue;
        for (const table of ["rollups", "rollup_values", "rollup_firsts"])
          db.prepare(`DELETE FROM ${table} WHERE fp = ?`).run(fp);
      }
    })();
  return [...fresh.keys()];
}

export function listRollups(db: Db): RollupDef[] {
  return rollupSql(db).list();
}

/**
 * Bring definitions (all, or `fps`) up to the store's last event, in
 * transactions of at most CATCH_UP_CHUNK events each (a first build of a
 * large store does not hold the write lock for long). Returns events folded.
 */
export function catchUp(
  db: Db,
  fps?: readonly string[],
  onChunk?: (through: number, max: number) => void,
): number {
  const sql = rollupSql(db);
  let folded = 0;
  const lags = (): boolean => {
    const max = (sql.maxSeq.get() as number | null) ?? 0;
    return sql.list().some((d) => d.through < max && (!fps || fps.includes(d.fp)));
  };
  // Look before taking the write lock: up-to-date rollups cost a reader no lock.
  while (lags()) {
    const step = db
      .transaction((): boolean => {
        const max = (sql.maxSeq.get() as number | null) ?? 0;
        const lagging = sql.list().filter((d) => d.through < max && (!fps || fps.includes(d.fp)));
        if (lagging.length === 0) return false;
        const lo = Math.min(...lagging.map((d) => d.through));
        const above = lagging.map((d) => d.through).filter((t) => t > lo);
        const hi = Math.min(lo + CATCH_UP_CHUNK, max, ...above);
        const defs = lagging.filter((d) => d.through === lo);
        const floor = new Map(defs.map((d) => [d.fp, d.through]));
        const firsts: FoldedFirsts = new Map();
        sql.persist(defs, sql.folder(defs).run(lo, hi, floor, new Map(), firsts), firsts);
        const at = Date.now();
        for (const d of defs) sql.setThrough.run(hi, at, d.fp);
        folded += hi - lo;
        onChunk?.(hi, max);
        return true;
      })
      .immediate();
    if (!step) break;
  }
  return folded;
}

/** Drop rollups (all, or `fps`): their definitions, cells and values. */
export function dropRollups(db: Db, fps?: readonly string[]): void {
  db.transaction(() => {
    const list = fps ?? (db.prepare("SELECT fp FROM rollup_defs").pluck().all() as string[]);
    for (const fp of list) {
      db.prepare("DELETE FROM rollups WHERE fp = ?").run(fp);
      db.prepare("DELETE FROM rollup_values WHERE fp = ?").run(fp);
      db.prepare("DELETE FROM rollup_firsts WHERE fp = ?").run(fp);
      db.prepare("DELETE FROM rollup_defs WHERE fp = ?").run(fp);
    }
  })();
}

/**
 * Make rollups of these meters usable: registered and caught up when the
 * connection may write; otherwise whatever is already registered (a read-only
 * reader folds the lagging tail itself). Returns meter id -> fingerprint of
 * the meters that can be read from rollups.
 */
export function ensureRollups(
  db: Db,
  meters: CompiledMeter[],
  zone: string,
  firstN?: ReadonlyMap<string, number>,
): Map<string, string> {
  const wanted = definitionsOf(meters, zone);
  if (wanted.size === 0) return wanted;
  if (!db.readonly && !db.inTransaction) {
    registerRollups(
      db,
      meters.filter((m) => wanted.has(m.id)),
      zone,
      firstN,
    );
    catchUp(db, [...new Set(wanted.values())]);
  }
  const known = new Set(listRollups(db).map((d) => d.fp));
  return new Map([...wanted].filter(([, fp]) => known.has(fp)));
}

/**
 * Read the cells of definitions for days in [start, end) (day starts in
 * their zone), plus the events the stored cells do not hold yet, in one read
 * transaction. Returns fp -> cells.
 */
export function readCells(
  db: Db,
  fps: readonly string[],
  window: Window,
  customers?: readonly string[],
): { defs: Map<string, RollupDef>; cells: Folded } {
  const sql = rollupSql(db);
  return db.transaction(() => {
    const defs = new Map(
      sql
        .list()
        .filter((d) => fps.includes(d.fp))
        .map((d) => [d.fp, d]),
    );
    const cells: Folded = new Map();
    const who = customers ? ` AND customer IN (${customers.map(() => "?").join(", ")})` : "";
    const rows = db.prepare(
      `SELECT day, customer, dim, q, f, n, t, s FROM rollups WHERE fp = ? AND day >= ? AND day < ?${who}`,
    );
    const values = db.prepare(
      `SELECT day, customer, value, n FROM rollup_values WHERE fp = ? AND day >= ? AND day < ?${who}`,
    );
    const who_ = customers ?? [];
    for (const d of defs.values()) {
      const byKey = new Map<string, RollCell>();
      cells.set(d.fp, byKey);
      for (const r of rows.iterate(d.fp, window.start, window.end, ...who_) as IterableIterator<{
        day: number;
        customer: string;
        dim: string;
        q: number | null;
        f: number;
        n: number;
        t: number | null;
        s: number | null;
      }>) {
        const c = newCell(d.def);
        c.q = r.q ?? 0;
        if (r.f) c.f = r.f;
        c.n = r.n;
        c.t = r.t ?? -Infinity;
        c.s = r.s ?? 0;
        if (d.def.dim !== null && r.t !== null && !c.values) {
          c.byDim.set(r.dim, c.q);
          if (r.f) c.byDimF = new Map([[r.dim, r.f]]);
        }
        byKey.set(`${r.day}${SEP}${r.customer}${SEP}${r.dim}`, c);
      }
      if (d.def.aggregation === "unique_count") {
        for (const r of values.iterate(d.fp, window.start, window.end, ...who_) as IterableIterator<{
          day: number;
          customer: string;
          value: string;
          n: number;
        }>) {
          const key = `${r.day}${SEP}${r.customer}${SEP}`;
          let c = byKey.get(key);
          if (!c) byKey.set(key, (c = newCell(d.def)));
          c.values?.add(r.value);
          c.counts?.set(r.value, r.n);
        }
      }
    }
    // Events recorded after a definition's through_seq (a writer that did not know it yet).
    const max = (sql.maxSeq.get() as number | null) ?? 0;
    const lagging = [...defs.values()].filter((d) => d.through < max);
    if (lagging.length > 0) {
      const floor = new Map(lagging.map((d) => [d.fp, d.through]));
      const from = Math.min(...lagging.map((d) => d.through));
      const tail = new Map<string, Map<string, RollCell>>(
        lagging.map((d) => [d.fp, cells.get(d.fp) ?? new Map()]),
      );
      sql.folder(lagging).run(from, max, floor, tail, new Map(), window);
      if (customers)
        for (const byKey of tail.values())
          for (const key of byKey.keys())
            if (!customers.includes(key.split(SEP)[1] as string)) byKey.delete(key);
      for (const [fp, byKey] of tail) cells.set(fp, byKey);
    }
    return { defs, cells };
  })();
}

/**
 * Day cells of the stored rollups as bills read them: per customer, per day
 * index of `days` (day starts in the zone), one DayCell (dimension cells
 * merged into `byDim`).
 */
export function dayCellsOf(
  def: RollupDefinition,
  cells: Map<string, RollCell>,
  days: number[],
): Map<string, DayCell[]> {
  const index = new Map(days.map((d, i) => [d, i]));
  const out = new Map<string, DayCell[]>();
  for (const [key, c] of cells) {
    const [dayText, customer] = key.split(SEP) as [string, string, string];
    const i = index.get(Number(dayText));
    if (i === undefined) continue;
    let list = out.get(customer);
    if (!list) out.set(customer, (list = []));
    const cell = list[i];
    if (!cell) {
      list[i] = {
        q: c.q,
        ...(c.f ? { f: c.f } : {}),
        ...(c.byDimF ? { byDimF: new Map(c.byDimF) } : {}),
        n: c.n,
        t: c.t,
        s: c.s,
        byDim: new Map(c.byDim),
        values: c.values,
        readings: null,
      };
      continue;
    }
    // sum / count: one stored cell per dimension value.
    cell.q += c.q;
    if (c.f) cell.f = (cell.f ?? 0) + c.f;
    if (c.byDimF) {
      cell.byDimF ??= new Map();
      for (const [k, v] of c.byDimF) cell.byDimF.set(k, (cell.byDimF.get(k) ?? 0) + v);
    }
    cell.n += c.n;
    if (c.t > cell.t) cell.t = c.t;
    for (const [k, v] of c.byDim) cell.byDim.set(k, (cell.byDim.get(k) ?? 0) + v);
  }
  // A flat sum/count meter keys its total under "" (as the scan's fold does).
  if (def.dim === null && (def.aggregation === "sum" || def.aggregation === "count"))
    for (const list of out.values())
      for (const cell of list)
        if (cell && cell.t !== -Infinity) {
          cell.byDim = new Map([["", cell.q]]);
          if (cell.f) cell.byDimF = new Map([["", cell.f]]);
        }
  return out;
}

/** Is `ts` a day start in `zone` (or an open end of all time)? */
export function isDayStart(ts: number, zone: string): boolean {
  if (ts === LIFETIME.start || ts === LIFETIME.end) return true;
  return calendarWindow("day", ts, zone).start === ts;
}

/**
 * `aggregateMeter` from rollups, or null when they cannot answer it exactly:
 * no zone given, a time_weighted meter, a split by a property, or a window or
 * bucket that does not start on a day of the zone.
 */
export function aggregateFromRollups(db: Db, spec: AggregateSpec): AggregateRow[] | null {
  const zone = spec.zone;
  const { meter, window } = spec;
  if (!zone || !rollable(meter) || spec.dimension) return null;
  if (!isDayStart(window.start, zone) || !isDayStart(window.end, zone)) return null;
  const buckets = spec.buckets && spec.buckets.length > 1 ? spec.buckets : null;
  if (buckets && !buckets.every((b) => isDayStart(b, zone))) return null;
  const fp = ensureRollups(db, [meter], zone).get(meter.id);
  if (!fp) return null;
  const { defs, cells } = readCells(db, [fp], window, spec.customers);
  const def = defs.get(fp)?.def;
  if (!def) return null;
  interface Group {
    customer: string;
    bucket: number;
    q: number | null;
    n: number;
    t: number;
    s: number;
    values: Map<string, number> | null;
  }
  const groups = new Map<string, Group>();
  for (const [key, c] of cells.get(fp) ?? []) {
    const [dayText, customer] = key.split(SEP) as [string, string];
    const bucket = buckets ? bucketOf(buckets, Number(dayText)) : 0;
    const id = `${customer}${SEP}${bucket}`;
    let g = groups.get(id);
    if (!g)
      groups.set(
        id,
        (g = { customer, bucket, q: null, n: 0, t: -Infinity, s: 0, values: c.counts ? new Map() : null }),
      );
    g.n += c.n;
    if (g.values && c.counts) {
      for (const [v, n] of c.counts) g.values.set(v, (g.values.get(v) ?? 0) + n);
    } else if (def.aggregation === "sum" || def.aggregation === "count") {
      g.q = (g.q ?? 0) + c.q + (c.f ?? 0) / 1e9;
    } else if (c.t !== -Infinity) {
      if (def.aggregation === "max") {
        if (g.q === null || c.q > g.q) g.q = c.q;
      } else if (c.t > g.t || (c.t === g.t && c.s > g.s)) {
        g.q = c.q;
        g.s = c.s;
      }
    }
    if (c.t > g.t) g.t = c.t;
  }
  const out: AggregateRow[] = [];
  // In the order of a SQL GROUP BY customer, bucket (readers merging rows in order see the same ties).
  const sorted = [...groups.values()].sort((a, b) =>
    a.customer < b.customer ? -1 : a.customer > b.customer ? 1 : a.bucket - b.bucket,
  );
  for (const g of sorted) {
    if (!g.values) {
      out.push({ customer: g.customer, bucket: g.bucket, dim: null, q: g.q, n: g.n, t: g.t });
    } else if (spec.distinctValues) {
      // One row per distinct value; events without a value are the dim = null row.
      let valued = 0;
      for (const [v, n] of g.values) {
        out.push({ customer: g.customer, bucket: g.bucket, dim: v, q: null, n, t: g.t });
        valued += n;
      }
      if (g.n > valued)
        out.push({ customer: g.customer, bucket: g.bucket, dim: null, q: null, n: g.n - valued, t: g.t });
    } else {
      out.push({ customer: g.customer, bucket: g.bucket, dim: null, q: g.values.size, n: g.n, t: g.t });
    }
  }
  return out;
}

/**
 * `dailyUsage` from rollups: the period's whole days from the rollups of its
 * meters, a partial first or last day (a pricing piece starting mid-day) and
 * time_weighted meters (or meters a read-only connection finds no rollup
 * for) by scanning their events. Null when no meter has a rollup.
 */
export function dailyFromRollups(db: Db, policy: CompiledPolicy, period: Window): DailyUsage | null {
  const zone = policy.timezone;
  const meters = ratingMeters(policy);
  const fps = ensureRollups(db, meters, zone, firstEventsWanted(policy));
  const days = dayStarts(period, zone);
  const last = days[days.length - 1];
  if (fps.size === 0 || last === undefined) return null;
  const firstWhole = isDayStart(period.start, zone) ? 0 : 1;
  const lastWhole = calendarWindow("day", last, zone).end === period.end ? days.length : days.length - 1;
  if (firstWhole >= lastWhole) return null;
  const data: DailyData = new Map();
  for (const m of meters) data.set(m.id, new Map());
  const window = { start: days[firstWhole] as number, end: days[lastWhole] ?? period.end };
  const { defs, cells } = readCells(db, [...new Set(fps.values())], window);
  for (const [id, fp] of fps) {
    const d = defs.get(fp);
    if (d) data.set(id, dayCellsOf(d.def, cells.get(fp) ?? new Map(), days));
    else fps.delete(id);
  }
  const merge = (part: DailyData) => {
    for (const [id, byCustomer] of part) {
      const target = data.get(id) as Map<string, DayCell[]>;
      for (const [customer, list] of byCustomer) {
        let into = target.get(customer);
        if (!into) target.set(customer, (into = []));
        list.forEach((cell, i) => {
          into[i] = cell;
        });
      }
    }
  };
  const rolled = [...fps.keys()];
  const scanned = meters.filter((m) => !fps.has(m.id)).map((m) => m.id);
  if (scanned.length > 0) merge(scanDays(db, policy, period, 0, days.length, false, scanned));
  if (firstWhole === 1) merge(scanDays(db, policy, period, 0, 1, false, rolled));
  if (lastWhole < days.length) merge(scanDays(db, policy, period, lastWhole, days.length, false, rolled));
  return usageFrom(policy, period, data, carriedReadings(db, policy, period));
}

/**
 * The stored first events of a definition for days in [start, end) with
 * those of events it does not hold yet folded in, in one read transaction:
 * "day\0customer" -> first events by (ts, id), at most its first_n.
 */
function readFirsts(db: Db, fp: string, window: Window): Map<string, Lead[]> {
  const sql = rollupSql(db);
  return db.transaction(() => {
    const d = sql.list().find((x) => x.fp === fp);
    const out = new Map<string, Lead[]>();
    if (!d || d.firstN <= 0) return out;
    const rows = db
      .prepare(
        "SELECT day, customer, ts, id, v FROM rollup_firsts WHERE fp = ? AND day >= ? AND day < ? ORDER BY day, customer, ts, id",
      )
      .iterate(fp, window.start, window.end) as IterableIterator<{
      day: number;
      customer: string;
      ts: number;
      id: string;
      v: number;
    }>;
    for (const r of rows) {
      const key = `${r.day}${SEP}${r.customer}`;
      let list = out.get(key);
      if (!list) out.set(key, (list = []));
      list.push({ ts: r.ts, id: r.id, v: r.v });
    }
    const max = (sql.maxSeq.get() as number | null) ?? 0;
    if (d.through < max) {
      const tail: FoldedFirsts = new Map();
      sql.folder([d]).run(d.through, max, new Map([[fp, d.through]]), new Map(), tail, window);
      for (const [key, leads] of tail.get(fp) ?? []) {
        let list = out.get(key);
        if (!list) out.set(key, (list = []));
        for (const e of leads) keepFirst(list, e, d.firstN);
      }
    }
    return out;
  })();
}

/**
 * `firstEvents` from rollups, or null when they cannot answer: a
 * time_weighted meter, more than MAX_FIRST_EVENTS asked, or a read-only
 * connection finding no rollup keeping `n`. Whole days come from the rollup
 * (raising its first_n, i.e. rebuilding it, when it keeps fewer than `n`); a
 * partial first or last day (a pricing piece starting mid-day) is scanned.
 */
export function firstsFromRollups(
  db: Db,
  meter: CompiledMeter,
  period: Window,
  days: number[],
  n: number,
  zone: string,
): FirstEvents | null {
  const last = days[days.length - 1];
  if (!rollable(meter) || n > MAX_FIRST_EVENTS || last === undefined) return null;
  const firstWhole = isDayStart(period.start, zone) ? 0 : 1;
  const lastWhole = calendarWindow("day", last, zone).end === period.end ? days.length : days.length - 1;
  if (firstWhole >= lastWhole) return null;
  const fp = ensureRollups(db, [meter], zone, new Map([[meter.id, n]])).get(meter.id);
  const kept = listRollups(db).find((d) => d.fp === fp)?.firstN ?? 0;
  if (!fp || kept < n) return null;
  const window = { start: days[firstWhole] as number, end: days[lastWhole] ?? period.end };
  const index = new Map(days.map((d, i) => [d, i]));
  const out: FirstEvents = new Map();
  const into = (customer: string, i: number, leads: Lead[]) => {
    let perDay = out.get(customer);
    if (!perDay) out.set(customer, (perDay = []));
    perDay[i] = leads;
  };
  for (const [key, list] of readFirsts(db, fp, window)) {
    const [dayText, customer] = key.split(SEP) as [string, string];
    const i = index.get(Number(dayText));
    if (i !== undefined && list.length > 0) into(customer, i, list.slice(0, n));
  }
  const scan = (part: Window) => {
    for (const [customer, perDay] of firstEventsPerDay(db, meter, part, days, n))
      perDay.forEach((leads, i) => {
        into(customer, i, leads);
      });
  };
  if (firstWhole === 1) scan({ start: period.start, end: window.start });
  if (lastWhole < days.length) scan({ start: window.end, end: period.end });
  return out;
}
