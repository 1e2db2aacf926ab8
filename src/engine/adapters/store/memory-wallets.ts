import { resized } from "../../core/engine/typed-arrays.js";
import {
  COLD,
  EPOCH,
  LANE,
  type Lot,
  SPENT,
  type WalletAccount,
  type WalletHold,
  type WalletLanes,
} from "../../core/wallet/account.js";
import { fromAtoms } from "../../core/wallet/amount.js";
import type { Ledger } from "../../core/wallet/ledger.js";
import type { WalletTxKind } from "../../core/wallet/model.js";
import {
  txRow,
  type WalletBatch,
  type WalletRow,
  type WalletStore,
  type WalletTxRow,
} from "../../core/wallet/store-rows.js";

/**
 * A written batch of ledger rows: the engine's columns as they were (rows are
 * built when read), or rows as given. `from`: the first entry still kept.
 */
interface Chunk {
  ledger: Ledger | null;
  rows: WalletTxRow[];
  prefix: string;
  from: number;
  length: number;
}

/**
 * A wallet as last written: the account's figures copied at the write (its
 * lots as references plus what remained of each: a lot changes only its
 * `remaining`), or a row as given.
 */
interface Image {
  row: WalletRow | null;
  /** Write order: the newest image of a customer is its wallet. */
  seq: number;
  customer: string;
  unit: string;
  openedAt: number;
  nextGrantAt: number;
  /** As of the account's last fold, with its unfolded spend (see `WalletAccount.spent`). */
  balance: bigint;
  spent: number;
  lots: Lot[];
  remaining: bigint[];
  holds: WalletHold[];
}

/**
 * The wallets of the memory store: a copy of each wallet as last written and
 * the ledger in write order, its newest `retain` rows kept (like the store's
 * events), so a long-running process does not grow without bound. Like the
 * events, the ledger is kept as the engine's columns and turned into rows
 * only when read.
 */
export class MemoryWallets implements WalletStore {
  /** Images of rows given as rows, by customer. */
  private readonly images = new Map<string, Image>();
  /** Images of one engine's accounts by their number, keyed by the engine's lanes (one per engine). */
  private readonly tables = new Map<WalletLanes, ImageTable>();
  private seq = 0;
  private readonly chunks: Chunk[] = [];
  private kept = 0;
  /** Ids given as text (callers' ids, top-ups...), by customer: the store's UNIQUE(customer, id). Generated ids are unique by construction. */
  private readonly ids = new Map<string, Set<string>>();

  constructor(private readonly retain: number) {}

  write(batch: WalletBatch): void {
    const seq = ++this.seq;
    const lanes = batch.lanes;
    const ids = batch.accountIds;
    if (lanes !== undefined && ids !== undefined) {
      let table = this.tables.get(lanes);
      if (table === undefined) this.tables.set(lanes, (table = new ImageTable()));
      table.write(lanes, ids, seq);
    } else for (const w of batch.wallets) this.images.set(w.customer, rowImage(structuredClone(w), seq));
    // Last: the engine's ledger is taken, not copied (the batch reads as empty after it).
    const ledger = batch.ledger;
    if (ledger !== undefined) this.keepLedger(ledger, batch.idPrefix ?? "");
    else this.keepRows(batch.transactions);
    // Whole batches as soon as the newer ones hold `retain` rows (their columns go back to the engine
    // that made them), part of one only past twice that.
    let drop = 0;
    for (const c of this.chunks) {
      const n = c.length - c.from;
      if (this.kept - drop - n < this.retain) break;
      drop += n;
    }
    if (this.kept - drop > this.retain * 2) drop = this.kept - this.retain;
    if (drop > 0) this.trim(drop);
  }

  loadWallets(): WalletRow[] {
    const newest = new Map<string, Image>();
    const consider = (img: Image | undefined) => {
      if (img === undefined) return;
      const known = newest.get(img.customer);
      if (known === undefined || known.seq < img.seq) newest.set(img.customer, img);
    };
    for (const img of this.images.values()) consider(img);
    for (const table of this.tables.values()) table.each(consider);
    return [...newest.values()].map(walletRowOf);
  }

  walletTransactions(customer: string, from: number, to: number): WalletTxRow[] {
    const out: WalletTxRow[] = [];
    this.scan((c, i) => {
      const t = this.at(c, i);
      if (customerOf(c, i) === customer && t >= from && t < to) out.push(rowAt(c, i));
    });
    return out;
  }

  walletActivity(from: number, to: number, kinds: readonly WalletTxKind[]): WalletTxRow[] {
    const out: WalletTxRow[] = [];
    this.scan((c, i) => {
      const t = this.at(c, i);
      if (t >= from && t < to && kinds.includes(kindOf(c, i))) out.push(rowAt(c, i));
    });
    return out;
  }

  walletTransaction(customer: string, id: string): WalletTxRow | null {
    let found: WalletTxRow | null = null;
    const given = this.ids.get(customer)?.has(id) === true;
    // A generated id is kept as its number: only a batch of the engine that made it can hold it.
    if (!given && !this.chunks.some((c) => c.ledger !== null && c.prefix !== "" && id.startsWith(c.prefix)))
      return null;
    this.scan((c, i) => {
      if (found === null && customerOf(c, i) === customer && idOf(c, i) === id) found = rowAt(c, i);
    });
    return found;
  }

  private keepLedger(ledger: Ledger, prefix: string): void {
    const n = ledger.length;
    if (n === 0) return;
    let repeated: Set<number> | null = null;
    // Generated ids are unique by construction: only ids given as text are claimed.
    for (let i = 0; ledger.textIds && i < n; i++) {
      const id = ledger.id(i);
      if (typeof id === "string" && !this.claim(ledger.customer(i), id)) (repeated ??= new Set()).add(i);
    }
    if (repeated === null) {
      this.push({ ledger: ledger.take(), rows: [], prefix, from: 0, length: n });
      return;
    }
    // Rare (an id stored before, past the engine's idempotency window): the others are kept as rows.
    const rows: WalletTxRow[] = [];
    for (let i = 0; i < n; i++) if (!repeated.has(i)) rows.push(txRow(ledger.tx(i), prefix));
    this.push({ ledger: null, rows, prefix, from: 0, length: rows.length });
  }

  private keepRows(transactions: readonly WalletTxRow[]): void {
    const rows: WalletTxRow[] = [];
    for (const tx of transactions) if (this.claim(tx.customer, tx.id)) rows.push(tx);
    if (rows.length > 0) this.push({ ledger: null, rows, prefix: "", from: 0, length: rows.length });
  }

  /** Record id as stored for customer; false when it already was. */
  private claim(customer: string, id: string): boolean {
    let mine = this.ids.get(customer);
    if (mine === undefined) this.ids.set(customer, (mine = new Set()));
    if (mine.has(id)) return false;
    mine.add(id);
    return true;
  }

  private push(chunk: Chunk): void {
    this.chunks.push(chunk);
    this.kept += chunk.length - chunk.from;
  }

  /** Drop the `n` oldest entries. */
  private trim(n: number): void {
    let left = n;
    while (left > 0 && this.chunks.length > 0) {
      const c = this.chunks[0] as Chunk;
      const drop = Math.min(left, c.length - c.from);
      for (let i = c.from; (c.ledger === null || c.ledger.textIds) && i < c.from + drop; i++) {
        const id = idRaw(c, i);
        if (typeof id === "string") this.ids.get(customerOf(c, i))?.delete(id);
      }
      c.from += drop;
      left -= drop;
      this.kept -= drop;
      if (c.from >= c.length) {
        this.chunks.shift();
        c.ledger?.release();
      }
    }
  }

  private scan(visit: (c: Chunk, i: number) => void): void {
    for (const c of this.chunks) for (let i = c.from; i < c.length; i++) visit(c, i);
  }

  private at(c: Chunk, i: number): number {
    return c.ledger === null ? (c.rows[i] as WalletTxRow).at : c.ledger.time(i);
  }
}

/**
 * The images of one engine's accounts, by account index. A write whose
 * account changed only by number-lane debits since its image was taken (same
 * epoch) copies two numbers; any other change takes a new image.
 */
class ImageTable {
  private images: (Image | undefined)[] = [];
  /** Per account, one row: the lanes' epoch its image was taken at, its unfolded spend and write order at the last write. */
  private rows = new Float64Array(64 * IMAGE);

  write(lanes: WalletLanes, ids: ArrayLike<number>, seq: number): void {
    if (this.rows.length < lanes.length * IMAGE)
      this.rows = resized(this.rows, Math.max(lanes.length * IMAGE, this.rows.length * 2));
    const rows = this.rows;
    const lane = lanes.row;
    for (let k = 0; k < ids.length; k++) {
      const wid = ids[k] as number;
      const at = wid * IMAGE;
      const from = wid * LANE;
      rows[at + IMAGE_SEQ] = seq;
      rows[at + IMAGE_SPENT] = lane[from + SPENT] as number;
      const epoch = lanes.cold[wid * COLD + EPOCH] as number;
      if (rows[at + IMAGE_EPOCH] === epoch && this.images[wid] !== undefined) continue;
      rows[at + IMAGE_EPOCH] = epoch;
      this.images[wid] = image(lanes.accounts[wid] as WalletAccount);
    }
  }

  each(visit: (img: Image) => void): void {
    for (let wid = 0; wid < this.images.length; wid++) {
      const img = this.images[wid];
      if (img === undefined) continue;
      img.spent = this.rows[wid * IMAGE + IMAGE_SPENT] as number;
      img.seq = this.rows[wid * IMAGE + IMAGE_SEQ] as number;
      visit(img);
    }
  }
}

const IMAGE_EPOCH = 0;
const IMAGE_SPENT = 1;
const IMAGE_SEQ = 2;
const IMAGE = 4;

/** What a store row of `a` needs, as of its last fold (no fold, no BigInt made): its unfolded spend is added when read. */
function image(a: WalletAccount): Image {
  const lots = a.baseLots;
  return {
    row: null,
    seq: 0,
    customer: a.customer,
    unit: a.terms.unit,
    openedAt: a.openedAt,
    nextGrantAt: a.nextGrantAt,
    balance: a.baseBalance,
    spent: 0,
    lots: lots.slice(),
    remaining: lots.map((l) => l.remaining),
    holds: [...a.holds.values()],
  };
}

function idRaw(c: Chunk, i: number): string | number {
  return c.ledger === null ? (c.rows[i] as WalletTxRow).id : c.ledger.id(i);
}

function idOf(c: Chunk, i: number): string {
  const id = idRaw(c, i);
  return typeof id === "string" ? id : c.prefix + id.toString(36);
}

function customerOf(c: Chunk, i: number): string {
  return c.ledger === null ? (c.rows[i] as WalletTxRow).customer : c.ledger.customer(i);
}

function kindOf(c: Chunk, i: number): WalletTxKind {
  return c.ledger === null ? (c.rows[i] as WalletTxRow).kind : c.ledger.kind(i);
}

/** Entry `i` as a fresh row (the caller may change it). */
function rowAt(c: Chunk, i: number): WalletTxRow {
  return c.ledger === null ? { ...(c.rows[i] as WalletTxRow) } : txRow(c.ledger.tx(i), c.prefix);
}

function rowImage(row: WalletRow, seq: number): Image {
  return {
    row,
    seq,
    customer: row.customer,
    unit: row.unit,
    openedAt: row.openedAt,
    nextGrantAt: 0,
    balance: 0n,
    spent: 0,
    lots: [],
    remaining: [],
    holds: [],
  };
}

function walletRowOf(img: Image): WalletRow {
  if (img.row !== null) return structuredClone(img.row);
  // The unfolded spend burns the lots in order (R12), as the account's fold would.
  let left = BigInt(img.spent);
  const lots: WalletRow["lots"] = [];
  for (let i = 0; i < img.lots.length; i++) {
    const l = img.lots[i] as Lot;
    let remaining = img.remaining[i] as bigint;
    const take = remaining < left ? remaining : left;
    remaining -= take;
    left -= take;
    if (remaining === 0n && take > 0n) continue;
    lots.push({
      id: l.id,
      source: l.source,
      remaining: fromAtoms(remaining),
      priority: l.priority,
      expiresAt: l.expiresAt === Infinity ? null : l.expiresAt,
      createdAt: l.createdAt,
    });
  }
  return {
    customer: img.customer,
    unit: img.unit,
    openedAt: img.openedAt,
    nextGrantAt: img.nextGrantAt === Infinity ? null : img.nextGrantAt,
    balance: fromAtoms(img.balance - BigInt(img.spent)),
    lots,
    holds: img.holds.map((h) => ({ id: h.id, amount: fromAtoms(h.amount), expiresAt: h.expiresAt })),
  };
}
